"""A retried or cleared wait restarts a failed or aborted job; the first try reports the failure.

One restart budget per job and run, shared by the start task and the wait (their histories say who
restarted what), and one history for the manifest.
"""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowRescheduleException, TaskDeferred

from include.roboflow_batch.jobs.ledger import JOB_HISTORY_XCOM_KEY, JobEvent, JobHistory
from include.roboflow_batch.operators.start_job import RoboflowStartJobOperator
from include.roboflow_batch.sensors.job import RoboflowJobSensor
from tests.unit.jobs.fakes import (
    FakeJobs,
    FakeStateStore,
    Snapshot,
    job,
    make_context,
    serve_through_hook,
)

JOB = "pipeline-base-job-01"


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> FakeJobs:
    return serve_through_hook(monkeypatch, FakeJobs(), RoboflowJobSensor, RoboflowStartJobOperator)


def aborted() -> Snapshot:
    return Snapshot(job(JOB, terminal=True, error=True, notification="Job aborted by the user."))


def sensor(**kwargs: Any) -> RoboflowJobSensor:
    kwargs.setdefault("job_history", None)
    return RoboflowJobSensor(task_id="wait_for_job", job_id=JOB, poke_interval=1, timeout=60, **kwargs)


def try_context(store: FakeStateStore, try_number: int) -> dict[str, Any]:
    """A try of the wait: each try has a task instance id of its own, the state store is kept."""
    context = make_context(store, task_id="wait_for_job")
    context["ti"].try_number = try_number
    context["ti"].id = f"ti-{try_number}"
    context["ti"].get_first_reschedule_date.return_value = None
    return context


def restart_event(by: str, at: str = "2026-11-28T11:00:00+00:00") -> dict[str, Any]:
    return {"at": at, "action": "restart", "job_id": JOB, "attempt": 1, "reason": "failed", "by": by}


def test_the_first_try_that_sees_the_failure_reports_it_without_restarting(jobs: FakeJobs) -> None:
    jobs.script(JOB, aborted())
    store = FakeStateStore()
    with pytest.raises(AirflowFailException, match="Job aborted by the user"):
        sensor().execute(try_context(store, 1))
    assert "restart_job" not in jobs.call_names()


def test_a_retried_or_cleared_wait_restarts_the_job_with_the_options_asked_for_now(jobs: FakeJobs) -> None:
    jobs.script(JOB, aborted())
    store = FakeStateStore()
    started = [{"at": "2026-11-28T10:00:00+00:00", "action": "create", "job_id": JOB, "attempt": 1}]
    context = try_context(store, 2)
    with pytest.raises(TaskDeferred):
        sensor(job_history=started, restart_options={"max_parallel_tasks": 3}).execute(context)
    assert jobs.restarted == [(JOB, {"type": "parameters-override-v1", "maxParallelTasks": 3})]
    history = context["ti"].pushed[JOB_HISTORY_XCOM_KEY]
    assert [(event["action"], event.get("by")) for event in history] == [
        ("create", None),
        ("restart", "wait_for_job"),
    ]
    assert history[1]["overrides"] == {"type": "parameters-override-v1", "maxParallelTasks": 3}


def test_the_restart_budget_counts_the_start_tasks_restarts(jobs: FakeJobs) -> None:
    jobs.script(JOB, aborted())
    published = [restart_event("start_job", "2026-11-28T10:00:00+00:00"), restart_event("start_job")]
    with pytest.raises(AirflowFailException, match=r"restarted 2 time\(s\).*max_restarts = 2"):
        sensor(job_history=published, max_restarts=2).execute(try_context(FakeStateStore(), 2))
    assert "restart_job" not in jobs.call_names()


def test_the_wait_restarts_at_most_max_restarts_times_over_its_tries(jobs: FakeJobs) -> None:
    store = FakeStateStore()
    for try_number in (2, 3):
        jobs.script(JOB, aborted())
        with pytest.raises(TaskDeferred):
            sensor(max_restarts=2).execute(try_context(store, try_number))
    jobs.script(JOB, aborted())
    with pytest.raises(AirflowFailException, match="the most allowed"):
        sensor(max_restarts=2).execute(try_context(store, 4))
    assert jobs.call_names().count("restart_job") == 2


def test_reschedule_mode_restarts_once_per_try_then_reports_the_next_failure(jobs: FakeJobs) -> None:
    store = FakeStateStore()
    jobs.script(JOB, aborted())
    wait = sensor(deferrable=False)
    with pytest.raises(AirflowRescheduleException):
        wait.execute(try_context(store, 2))  # restarted, then the first poke finds it running
    jobs.script(JOB, aborted())  # it fails again while this try waits
    with pytest.raises(AirflowFailException, match="Job aborted by the user"):
        sensor(deferrable=False).execute(try_context(store, 2))
    assert jobs.call_names().count("restart_job") == 1


def test_a_job_restarted_elsewhere_meanwhile_is_reattached(jobs: FakeJobs) -> None:
    from tests.unit.jobs.fakes import conflict

    jobs.script(JOB, aborted())
    jobs.restart_error = conflict()
    context = try_context(FakeStateStore(), 2)
    with pytest.raises(AirflowFailException, match="Job aborted by the user"):
        # The fake keeps showing the job aborted: the wait reports what it sees, with no second restart.
        sensor().execute(context)
    assert [event["action"] for event in context["ti"].pushed[JOB_HISTORY_XCOM_KEY]] == ["reattach"]
    assert "create_job" not in jobs.call_names()


def test_start_job_counts_the_waits_restarts_against_its_budget(jobs: FakeJobs) -> None:
    from include.roboflow_batch.api.jobs import WorkflowJobSpec

    definition = WorkflowJobSpec(batch_id="batch-1", workflow_id="image-stats").to_body("demo-workspace")
    jobs.script(JOB, Snapshot(job(JOB, terminal=True, error=True, definition=definition)))
    waited = [restart_event("wait_for_job", "2026-11-28T10:00:00+00:00"), restart_event("wait_for_job")]
    operator = RoboflowStartJobOperator(
        task_id="start_job",
        batch_id="batch-1",
        workflow_id="image-stats",
        job_id=JOB,
        max_restarts=2,
        job_wait_task_id="wait_for_job",
    )
    context = make_context()
    # What the wait published on an earlier try, for this task's own map index.
    published = {("wait_for_job", JOB_HISTORY_XCOM_KEY, -1): waited}
    context["ti"].xcom_pull.side_effect = lambda task_ids, key, map_indexes: published.get(
        (task_ids, key, map_indexes)
    )
    with pytest.raises(AirflowFailException, match=r"after 2 restart\(s\)"):
        operator.execute(context)
    assert "restart_job" not in jobs.call_names()


def test_histories_merge_without_duplicates_and_count_each_restart_once() -> None:
    mine = JobEvent.model_validate(restart_event("wait_for_job"))
    theirs = JobEvent.model_validate(restart_event("start_job", "2026-11-28T09:00:00+00:00"))
    merged = JobHistory(events=(theirs, mine)).merged(JobHistory(events=(mine,)))
    assert merged.events == (theirs, mine)
    assert merged.restarts_by_others(JOB, "wait_for_job") == 1
    assert merged.restarts_by_others(JOB, "start_job") == 1
    assert merged.restarts_by_others("other-job", "start_job") == 0
