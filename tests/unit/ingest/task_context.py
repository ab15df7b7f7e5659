"""The shared task context (``include.devstack.task_context``) with the ingest defaults: no data interval."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

from include.devstack.task_context import FakeStateStore
from include.devstack.task_context import make_context as _make_context

__all__ = ["INTERVAL", "FakeStateStore", "make_context"]

# One hourly data interval: [04:00, 05:00) on 2026-03-01.
INTERVAL = (datetime(2026, 3, 1, 4, tzinfo=UTC), datetime(2026, 3, 1, 5, tzinfo=UTC))

make_context = partial(
    _make_context,
    dag_id="ingest_pipeline",
    task_id="ingest",
    interval=None,
    run_id="scheduled__2026-03-01T05:00:00+00:00",
)
