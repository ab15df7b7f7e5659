"""Fixtures for running the ingest operator and readiness sensor outside a DAG."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.ingest.task_context import INTERVAL, FakeStateStore, make_context


@pytest.fixture
def state_store() -> FakeStateStore:
    return FakeStateStore()


@pytest.fixture
def context(state_store: FakeStateStore) -> dict[str, Any]:
    """A task context with an hourly data interval and an empty task state store."""
    return make_context(interval=INTERVAL, store=state_store)


@pytest.fixture
def arrival_by_mtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let tests place files in past windows with ``os.utime`` (the change time is always now)."""
    from include.roboflow_batch.ingest import local_files

    monkeypatch.setattr(local_files, "arrival_time", lambda stat: stat.st_mtime)
