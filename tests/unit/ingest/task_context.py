"""A minimal Airflow task context for running the ingest operator and sensor outside a DAG."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

# One hourly data interval: [04:00, 05:00) on 2026-03-01.
INTERVAL = (datetime(2026, 3, 1, 4, tzinfo=UTC), datetime(2026, 3, 1, 5, tzinfo=UTC))


class FakeStateStore:
    """The task state store's get/set, in memory; survives 'retries' when the same one is reused."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.writes = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        self.values[key] = value
        self.writes += 1


def make_context(
    *,
    dag_id: str = "ingest_pipeline",
    interval: tuple[datetime, datetime] | None = None,
    run_id: str = "scheduled__2026-03-01T05:00:00+00:00",
    map_index: int = -1,
    store: FakeStateStore | None = None,
    task_id: str = "ingest",
) -> dict[str, Any]:
    """What the operators read from a real context: dag, ti, run ids, data interval, state store."""
    ti = SimpleNamespace(dag_id=dag_id, task_id=task_id, map_index=map_index, run_id=run_id, try_number=1)
    return {
        "dag": SimpleNamespace(dag_id=dag_id),
        "ti": ti,
        "task_instance": ti,
        "run_id": run_id,
        "dag_run": SimpleNamespace(run_id=run_id, dag_id=dag_id),
        "data_interval_start": interval[0] if interval else None,
        "data_interval_end": interval[1] if interval else None,
        "task_state_store": store if store is not None else FakeStateStore(),
    }
