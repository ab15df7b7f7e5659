"""The job ledger: typed events and history, read back from what earlier versions stored."""

from __future__ import annotations

import json
from typing import Any

import pytest

from include.devstack.task_context import FakeStateStore
from include.roboflow_batch.jobs.ledger import JobEvent, JobHistory, JobHistoryError, SeenJob
from include.roboflow_batch.jobs.ledger_store import HISTORY_STATE_KEY, RESTARTS_STATE_KEY, TaskLedger

# A task state as earlier versions wrote it: untyped dicts, optional keys only when set.
STORED_BY_EARLIER_VERSIONS: list[dict[str, Any]] = [
    {
        "at": "2026-11-28T10:00:00+00:00",
        "action": "create",
        "job_id": "cams-abcdefghij",
        "attempt": 1,
        "reason": "no job exists for this interval yet",
        "seen": [],
        "by": "start_job",
    },
    {
        "at": "2026-11-28T10:30:00+00:00",
        "action": "restart",
        "job_id": "cams-abcdefghij",
        "attempt": 1,
        "reason": "job cams-abcdefghij failed or was aborted",
        "seen": [{"job_id": "cams-abcdefghij", "attempt": 1, "state": "failed or aborted"}],
        "changed": ["maxParallelTasks"],
        "overrides": {"type": "parameters-override-v1", "maxParallelTasks": 3},
        "by": "wait_for_job",
    },
]


def test_a_history_stored_by_earlier_versions_reads_typed_and_writes_back_the_same() -> None:
    history = JobHistory.from_entries(json.loads(json.dumps(STORED_BY_EARLIER_VERSIONS)))

    assert [event.action for event in history.events] == ["create", "restart"]
    assert history.events[1].seen == (
        SeenJob(job_id="cams-abcdefghij", attempt=1, state="failed or aborted"),
    )
    assert history.entries() == STORED_BY_EARLIER_VERSIONS
    assert history.restarts_by_others("cams-abcdefghij", "start_job") == 1
    assert history.restarts_by_others("cams-abcdefghij", "wait_for_job") == 0
    assert history.job_ids() == {"cams-abcdefghij"}


def test_a_task_ledger_reads_the_state_earlier_versions_wrote() -> None:
    store = FakeStateStore()
    store.values[HISTORY_STATE_KEY] = STORED_BY_EARLIER_VERSIONS
    store.values[RESTARTS_STATE_KEY] = {"cams-abcdefghij": 1}
    ledger = TaskLedger(store, "wait_for_job")

    assert ledger.history().entries() == STORED_BY_EARLIER_VERSIONS
    # Its own restart (the counter) and none by the start task in what it published.
    assert ledger.restarts_done("cams-abcdefghij", JobHistory()) == 1
    ledger.count_restart("cams-abcdefghij")
    assert store.values[RESTARTS_STATE_KEY] == {"cams-abcdefghij": 2}


@pytest.mark.parametrize("damaged", ["not a list", [1, 2], [{"action": "create"}], {"job_id": "x"}])
def test_a_damaged_stored_history_counts_nothing(damaged: object) -> None:
    store = FakeStateStore()
    store.values[HISTORY_STATE_KEY] = damaged

    assert TaskLedger(store, "start_job").history() == JobHistory()


def test_a_bad_entry_is_named() -> None:
    with pytest.raises(JobHistoryError, match=r"entry 1\.attempt"):
        JobHistory.from_entries(
            [STORED_BY_EARLIER_VERSIONS[0], {**STORED_BY_EARLIER_VERSIONS[1], "attempt": "x"}]
        )
    with pytest.raises(JobHistoryError, match="list of events, got str"):
        JobHistory.from_entries(json.dumps(STORED_BY_EARLIER_VERSIONS))


def test_merging_keeps_each_event_once_oldest_first_and_the_attempt_comes_from_the_latest_event() -> None:
    earlier, later = (JobEvent.model_validate(entry) for entry in STORED_BY_EARLIER_VERSIONS)
    second = JobEvent(action="create", job_id="cams-abcdefg-a2", attempt=2, at="2026-11-28T11:00:00+00:00")

    merged = JobHistory(events=(later, second)).merged(JobHistory(events=(earlier, later)))

    assert merged.events == (earlier, later, second)
    assert merged.attempt_of("cams-abcdefg-a2") == 2
    assert merged.attempt_of("never-seen") == 1
