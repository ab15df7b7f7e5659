"""Deterministic batch ids from the Airflow context.

Every task of one DAG run (ingest, readiness sensor, job start) derives the same batch id, and a
retry derives it again, so no task needs another task's XCom to find the batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from include.roboflow_batch.api.ids import derive_batch_id

__all__ = ["batch_id_from_context"]


def _stamp(moment: datetime) -> str:
    """A compact UTC timestamp: the same instant always gives the same text."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y%m%dt%H%M%S")


def _dag_id(context: Mapping[str, Any]) -> str:
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or getattr(context.get("ti"), "dag_id", None)
    if not dag_id:
        raise ValueError("cannot derive a batch id: the context has neither 'dag' nor 'ti' with a dag_id")
    return str(dag_id)


def _map_index(context: Mapping[str, Any]) -> int:
    index = getattr(context.get("ti"), "map_index", None)
    return index if isinstance(index, int) else -1


def batch_id_from_context(context: Mapping[str, Any]) -> str:
    """The batch id of this DAG run: dag id + data interval (or run id), + map index when mapped.

    Runs without a data interval (manual or API runs with no logical date) fall back to the run id,
    which is unique per run. The task id is deliberately left out: all tasks of a run share the batch.
    """
    parts = [_dag_id(context)]
    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    if isinstance(start, datetime) and isinstance(end, datetime):
        parts += [_stamp(start), _stamp(end)]
    else:
        run_id = context.get("run_id") or getattr(context.get("dag_run"), "run_id", None)
        if not run_id:
            raise ValueError(
                "cannot derive a batch id: the context has no data interval and no run_id; pass batch_id"
            )
        parts.append(str(run_id))
    map_index = _map_index(context)
    if map_index >= 0:
        parts.append(f"m{map_index}")
    return derive_batch_id(*parts)
