"""A minimal Airflow task context and task state store, for running operators and sensors outside a DAG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock

# One hourly data interval: [10:00, 11:00) on 2026-11-28.
DEFAULT_INTERVAL = (datetime(2026, 11, 28, 10, tzinfo=UTC), datetime(2026, 11, 28, 11, tzinfo=UTC))


class FakeStateStore:
    """The task state store's get/set, in memory; survives 'retries' when the same one is reused.

    ``timeline`` may be shared with a fake client, to check that state is written before a remote call.
    """

    def __init__(self, timeline: list[tuple[str, Any]] | None = None) -> None:
        self.values: dict[str, Any] = {}
        self.retention: dict[str, timedelta | None] = {}
        self.timeline = timeline if timeline is not None else []
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        self.timeline.append(("state_set", key))
        self.values[key] = value
        self.retention[key] = retention
        self.writes += 1


def make_context(
    store: FakeStateStore | None = None,
    *,
    dag_id: str = "pipeline_s3",
    task_id: str = "start_job",
    interval: tuple[datetime, datetime] | None = DEFAULT_INTERVAL,
    run_id: str = "scheduled__2026-11-28T11:00:00+00:00",
    map_index: int = -1,
    **extra: Any,
) -> dict[str, Any]:
    """What the operators read from a real context: dag, ti (recording its XCom pushes in ``ti.pushed``),
    run ids, data interval and state store."""
    ti = mock.MagicMock()
    ti.dag_id, ti.task_id, ti.map_index, ti.run_id, ti.try_number = dag_id, task_id, map_index, run_id, 1
    ti.pushed = {}
    ti.xcom_push.side_effect = lambda key, value: ti.pushed.__setitem__(key, value)
    context = {
        "dag": SimpleNamespace(dag_id=dag_id),
        "ti": ti,
        "task_instance": ti,
        "run_id": run_id,
        "dag_run": SimpleNamespace(run_id=run_id, dag_id=dag_id),
        "data_interval_start": interval[0] if interval else None,
        "data_interval_end": interval[1] if interval else None,
        "task_state_store": store if store is not None else FakeStateStore(),
    }
    context.update(extra)
    return context
