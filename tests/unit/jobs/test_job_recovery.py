"""Re-runs do what the user means: a failed or aborted job is restarted, a definition whose results
differ gets a new attempt (a running job aborted first), and a job that is not the interval's own is
left alone."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.roboflow_batch.api.jobs import WorkflowJobSpec
from include.roboflow_batch.jobs.ledger_store import HISTORY_STATE_KEY
from include.roboflow_batch.jobs.recovery import (
    MAX_ATTEMPTS,
    ExistingJob,
    Ownership,
    RecoveryRefused,
    attempt_job_id,
    decide,
    result_changes,
)
from include.roboflow_batch.operators.start_job import JOB_ATTEMPT_STATE_KEY, RoboflowStartJobOperator
from tests.unit.jobs.fakes import FakeHook, FakeJobs, FakeStateStore, Snapshot, job, make_context, stage

BASE = "pipeline-base-job-01"


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> FakeJobs:
    fake = FakeJobs()
    hook = FakeHook(fake)
    monkeypatch.setattr(RoboflowStartJobOperator, "_hook", lambda self: hook)
    return fake


def body(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("batch_id", "batch-1")
    kwargs.setdefault("workflow_id", "image-stats")
    return WorkflowJobSpec(**kwargs).to_body("demo-workspace")


def operator(**kwargs: Any) -> RoboflowStartJobOperator:
    kwargs.setdefault("task_id", "start_job")
    kwargs.setdefault("batch_id", "batch-1")
    kwargs.setdefault("workflow_id", "image-stats")
    kwargs.setdefault("job_id", BASE)
    return RoboflowStartJobOperator(**kwargs)


def dead(job_id: str, definition: dict[str, Any], notification: str = "Job aborted by the user.") -> Snapshot:
    return Snapshot(job(job_id, terminal=True, error=True, notification=notification, definition=definition))


def test_aborted_job_is_restarted_not_reattached(jobs: FakeJobs) -> None:
    jobs.script(BASE, dead(BASE, body()))
    store = FakeStateStore()
    result = operator().execute(make_context(store))
    assert result["job_id"] == BASE
    assert jobs.restarted == [(BASE, None)]
    assert "create_job" not in jobs.call_names()
    assert [event["action"] for event in store.values[HISTORY_STATE_KEY]] == ["restart"]


def test_failed_job_is_restarted_with_the_options_asked_for_now(jobs: FakeJobs) -> None:
    jobs.script(BASE, dead(BASE, body(machine_type="cpu"), notification="Job failed: timeout"))
    options = {
        "machine_type": "gpu",
        "workers_per_machine": 2,
        "processing_timeout_seconds": 7200,
        "max_parallel_tasks": 3,
        "max_image_failure_rate": 0.1,
    }
    context = make_context()
    result = operator(**options).execute(context)
    assert result["job_id"] == BASE
    assert jobs.restarted == [
        (
            BASE,
            {
                "type": "parameters-override-v1",
                "computeConfiguration": {
                    "type": "compute-configuration-v2",
                    "machineType": "gpu",
                    "workersPerMachine": 2,
                },
                "maxParallelTasks": 3,
                "processingTimeoutSeconds": 7200,
                "maxImageFailureRate": 0.1,
            },
        )
    ]
    event = context["ti"].pushed["job_history"][-1]
    assert event["action"] == "restart"
    assert "computeConfiguration.machineType" in event["changed"]
    assert event["overrides"]["maxParallelTasks"] == 3


def test_changed_workflow_starts_the_next_attempt_under_a_new_deterministic_id(jobs: FakeJobs) -> None:
    jobs.script(BASE, dead(BASE, body(workflow_id="old-workflow")))
    store = FakeStateStore()
    result = operator().execute(make_context(store))
    second = attempt_job_id(BASE, 2)
    assert result["job_id"] == second
    assert result["attempt"] == 2
    assert second.endswith("-a2") and len(second) <= 20
    assert jobs.created == {second: body()}
    assert jobs.restarted == []
    assert store.values[JOB_ATTEMPT_STATE_KEY] == 2
    [event] = store.values[HISTORY_STATE_KEY]
    assert event["seen"] == [{"job_id": BASE, "attempt": 1, "state": "failed or aborted"}]
    # The next run of the interval finds attempt 2 and re-attaches: no third job.
    again = operator().execute(make_context(store))
    assert again["job_id"] == second
    assert list(jobs.created) == [second]


def test_changed_workflow_parameters_also_need_a_new_job(jobs: FakeJobs) -> None:
    jobs.script(BASE, dead(BASE, body(workflow_parameters={"threshold": 0.2})))
    assert operator(workflow_parameters={"threshold": 0.5}).execute(make_context())["attempt"] == 2


def test_which_changes_shape_the_results() -> None:
    old = body(machine_type="cpu", max_parallel_tasks=2, workflow_parameters={"threshold": 0.2})
    paths = {
        change.path
        for change in result_changes(
            old,
            body(
                batch_id="batch-2",
                machine_type="gpu",
                max_parallel_tasks=8,
                aggregation_format="csv",
                notifications_url="https://hooks.example/x",
            ),
        )
    }
    # Parameters the pipeline no longer sends are a change too; machine, parallelism, webhook are not.
    assert paths == {
        "jobInput.batchId",
        "processingSpecification.aggregationFormat",
        "processingSpecification.workflowParameters",
    }
    [change] = result_changes(body(workflow_id="a"), body(workflow_id="b"))
    assert change.describe() == "processingSpecification.workflowId: 'a' -> 'b'"


def test_a_changed_webhook_url_restarts_a_failed_job_rather_than_starting_a_new_one(jobs: FakeJobs) -> None:
    jobs.script(BASE, dead(BASE, body(notifications_url="https://hooks.example/old")))
    result = operator(notifications_url="https://hooks.example/new").execute(make_context())
    assert (result["job_id"], result["attempt"]) == (BASE, 1)
    assert jobs.restarted == [(BASE, None)]


def test_succeeded_job_of_another_workflow_is_replaced_by_the_next_attempt(jobs: FakeJobs) -> None:
    jobs.script(BASE, Snapshot(job(BASE, terminal=True, definition=body(workflow_id="old-workflow"))))
    store = FakeStateStore()
    result = operator().execute(make_context(store))
    assert (result["job_id"], result["attempt"]) == (attempt_job_id(BASE, 2), 2)
    assert "abort_job" not in jobs.call_names()
    [event] = store.values[HISTORY_STATE_KEY]
    assert event["action"] == "create"
    assert "processingSpecification.workflowId: 'old-workflow' -> 'image-stats'" in event["reason"]


def test_running_job_of_another_workflow_is_aborted_and_seen_stopped_before_the_next_attempt(
    jobs: FakeJobs,
) -> None:
    running = Snapshot(job(BASE, definition=body(workflow_id="old-workflow")))
    jobs.script(BASE, running, running, dead(BASE, body(workflow_id="old-workflow")))
    store = FakeStateStore()
    with mock.patch("time.sleep") as slept:
        result = operator(poll_interval=3).execute(make_context(store))
    second = attempt_job_id(BASE, 2)
    assert result["job_id"] == second
    names = jobs.call_names()
    # Lookup, abort, polls until terminal, then (and only then) the new attempt.
    assert names.index("abort_job") < names.index("create_job")
    assert [call for call in jobs.calls if call[0] == "get_job" and call[1] == BASE][-1:] == [
        ("get_job", BASE)
    ]
    assert slept.call_args_list == [mock.call(3)]
    assert [(e["action"], e["job_id"]) for e in store.values[HISTORY_STATE_KEY]] == [
        ("abort", BASE),
        ("create", second),
    ]


def test_a_job_past_its_processing_stage_is_waited_for_instead_of_aborted(jobs: FakeJobs) -> None:
    from tests.unit.jobs.fakes import refusal

    running = Snapshot(job(BASE, stage="export", definition=body(workflow_id="old-workflow")))
    jobs.script(
        BASE, running, Snapshot(job(BASE, terminal=True, definition=body(workflow_id="old-workflow")))
    )
    jobs.abort_error = refusal()
    with mock.patch("time.sleep"):
        assert operator().execute(make_context())["job_id"] == attempt_job_id(BASE, 2)


def test_on_changed_definition_fail_also_applies_to_a_succeeded_job(jobs: FakeJobs) -> None:
    jobs.script(BASE, Snapshot(job(BASE, terminal=True, definition=body(workflow_id="old-workflow"))))
    with pytest.raises(AirflowFailException) as failure:
        operator(on_changed_definition="fail").execute(make_context())
    assert "processingSpecification.workflowId: 'old-workflow' -> 'image-stats'" in str(failure.value)
    assert {"create_job", "abort_job", "restart_job"}.isdisjoint(jobs.call_names())


def test_a_job_that_existed_before_the_step_on_another_batch_is_never_aborted_or_adopted(
    jobs: FakeJobs,
) -> None:
    foreign = body(batch_id="someone-elses-batch", workflow_id="their-workflow")
    for snapshot in (
        Snapshot(job(BASE, definition=foreign)),
        Snapshot(job(BASE, terminal=True, definition=foreign)),
        dead(BASE, foreign),
        Snapshot(
            job(BASE, terminal=True, definition=body(batch_id="someone-elses-batch", machine_type="gpu"))
        ),
    ):
        jobs.script(BASE, snapshot)
        with pytest.raises(AirflowFailException) as failure:
            operator().execute(make_context())
        assert "left alone" in str(failure.value)
        assert "jobInput.batchId" in str(failure.value)
    assert {"create_job", "abort_job", "restart_job"}.isdisjoint(jobs.call_names())


def test_what_proves_a_job_is_the_intervals_own() -> None:
    from datetime import UTC, datetime, timedelta

    first_run = datetime(2026, 11, 28, 12, tzinfo=UTC)
    other = {"jobInput": {"batchId": "other"}}

    def existing(created: datetime, definition: dict[str, Any] = other) -> ExistingJob:
        return ExistingJob(BASE, 1, definition, True, False, created_at=created)

    ownership = Ownership(batch_id="mine", known_jobs=frozenset({"known"}), first_ran_at=first_run)
    assert ownership.owns(existing(first_run - timedelta(days=1), {"jobInput": {"batchId": "mine"}}))
    assert ownership.owns(existing(first_run + timedelta(seconds=1)))
    assert ownership.owns(existing(first_run - timedelta(seconds=2)))  # within the clocks' skew
    assert not ownership.owns(existing(first_run - timedelta(minutes=5)))
    assert Ownership(known_jobs=frozenset({BASE})).owns(existing(first_run - timedelta(days=1)))


def test_a_job_on_an_earlier_staging_of_the_intervals_batch_is_the_intervals_own() -> None:
    from datetime import UTC, datetime, timedelta

    from include.roboflow_batch.api.ids import staged_batch_id

    base = "cams-20261130t0100-20261130t0200-abc"
    week_ago = datetime(2026, 11, 30, 2, tzinfo=UTC)

    def on_batch(batch_id: str) -> ExistingJob:
        return ExistingJob(BASE, 1, {"jobInput": {"batchId": batch_id}}, True, False, created_at=week_ago)

    # The batch expired and the service kept its id: the data was staged again under the next id.
    restaged = Ownership(batch_id=staged_batch_id(base, 2), first_ran_at=week_ago + timedelta(days=8))
    assert restaged.owns(on_batch(base))
    assert Ownership(batch_id=base).owns(on_batch(staged_batch_id(base, 3)))
    assert not restaged.owns(on_batch("someone-elses-batch"))
    assert not restaged.owns(on_batch(staged_batch_id("someone-elses-batch", 2)))


def test_on_changed_definition_fail_names_the_change_and_the_switch(jobs: FakeJobs) -> None:
    jobs.script(BASE, dead(BASE, body(workflow_id="old-workflow")))
    with pytest.raises(AirflowFailException) as failure:
        operator(on_changed_definition="fail").execute(make_context())
    message = str(failure.value)
    assert "processingSpecification.workflowId" in message
    assert "on_changed_definition" in message
    assert "create_job" not in jobs.call_names()
    assert "restart_job" not in jobs.call_names()


def test_unknown_on_changed_definition_fails_before_any_remote_call(jobs: FakeJobs) -> None:
    with pytest.raises(AirflowFailException, match="on_changed_definition must be one of"):
        operator(on_changed_definition="retry").execute(make_context())
    assert jobs.calls == []


def test_restarts_are_bounded_per_job(jobs: FakeJobs) -> None:
    store = FakeStateStore()
    for _ in range(2):
        jobs.script(BASE, dead(BASE, body(), notification="Job failed"))
        operator(max_restarts=2).execute(make_context(store))
    jobs.script(BASE, dead(BASE, body(), notification="Job failed"))
    with pytest.raises(AirflowFailException, match=r"after 2 restart\(s\)"):
        operator(max_restarts=2).execute(make_context(store))
    assert [name for name in jobs.call_names() if name == "restart_job"] == ["restart_job"] * 2


def test_a_live_later_attempt_wins_over_an_earlier_dead_one(jobs: FakeJobs) -> None:
    second = attempt_job_id(BASE, 2)
    jobs.script(BASE, dead(BASE, body(workflow_id="old-workflow")))
    jobs.script(second, Snapshot(job(second, definition=body())))
    assert operator().execute(make_context())["job_id"] == second
    assert "restart_job" not in jobs.call_names()
    assert "create_job" not in jobs.call_names()


def test_succeeded_job_with_a_changed_option_is_reattached(jobs: FakeJobs) -> None:
    jobs.script(BASE, Snapshot(job(BASE, terminal=True, definition=body(max_parallel_tasks=2))))
    result = operator(max_parallel_tasks=8).execute(make_context())
    assert result["job_id"] == BASE
    assert "restart_job" not in jobs.call_names()
    assert "create_job" not in jobs.call_names()


def succeeded_with_outputs(job_id: str, definition: dict[str, Any]) -> Snapshot:
    outputs = [
        stage("processing", outputs=[f"{job_id}-processing"]),
        stage("export", outputs=[f"{job_id}-export"]),
    ]
    return Snapshot(job(job_id, terminal=True, definition=definition), stages=outputs)


def test_succeeded_job_whose_results_are_still_there_is_reattached(jobs: FakeJobs) -> None:
    jobs.script(BASE, succeeded_with_outputs(BASE, body()))
    assert operator().execute(make_context())["job_id"] == BASE
    assert [c for c in jobs.calls if c[0] == "get_batch"] == [
        ("get_batch", f"{BASE}-processing"),
        ("get_batch", f"{BASE}-export"),
    ]
    assert "create_job" not in jobs.call_names()


def test_succeeded_job_whose_results_expired_gets_a_new_job_for_the_data_staged_again(jobs: FakeJobs) -> None:
    jobs.script(BASE, succeeded_with_outputs(BASE, body()))
    jobs.expired_batches = {f"{BASE}-processing", f"{BASE}-export"}
    context = make_context()
    result = operator().execute(context)
    second = attempt_job_id(BASE, 2)
    assert result["job_id"] == second and result["attempt"] == 2
    assert jobs.created == {second: body()}  # the same definition, over the batch staged again
    [event] = context["ti"].pushed["job_history"]
    assert event["action"] == "create" and "expired" in event["reason"]
    assert event["seen"] == [{"job_id": BASE, "attempt": 1, "state": "succeeded, results expired"}]


def test_expired_results_at_the_last_attempt_are_refused_with_the_reason() -> None:
    last = ExistingJob(
        attempt_job_id(BASE, MAX_ATTEMPTS), MAX_ATTEMPTS, {"type": "t"}, True, False, results_expired=True
    )
    with pytest.raises(RecoveryRefused, match=r"^The results of job .* expired .*most allowed"):
        decide(BASE, [last], {"type": "t"})


def test_a_restart_refused_because_the_job_runs_again_reattaches(jobs: FakeJobs) -> None:
    from tests.unit.jobs.fakes import conflict

    jobs.script(BASE, dead(BASE, body()))
    jobs.restart_error = conflict()
    context = make_context()
    assert operator().execute(context)["job_id"] == BASE
    assert context["ti"].pushed["job_history"][-1]["action"] == "reattach"


def test_decide_needs_a_known_switch_and_stops_after_the_last_attempt() -> None:
    with pytest.raises(RecoveryRefused, match="on_changed_definition"):
        decide(BASE, [], {}, on_changed_definition="maybe")
    last = ExistingJob(attempt_job_id(BASE, MAX_ATTEMPTS), MAX_ATTEMPTS, {"type": "old"}, True, True)
    with pytest.raises(RecoveryRefused, match="most allowed"):
        decide(BASE, [last], {"type": "new"}, ownership=Ownership(known_jobs=frozenset({last.job_id})))


def test_a_job_that_does_not_stop_in_time_leaves_the_next_attempt_to_a_retry(jobs: FakeJobs) -> None:
    from airflow.sdk.exceptions import AirflowException

    from include.roboflow_batch.jobs import attempts

    jobs.script(BASE, Snapshot(job(BASE, definition=body(workflow_id="old-workflow"))))
    with (
        mock.patch.object(attempts, "ABORT_WAIT_SECONDS", 0.0),
        pytest.raises(AirflowException, match="still runs") as failure,
    ):
        operator().execute(make_context())
    assert not isinstance(failure.value, AirflowFailException)  # retried: the retry checks again
    assert "create_job" not in jobs.call_names()


def test_attempt_ids_are_valid_distinct_and_stable() -> None:
    ids = [attempt_job_id(BASE, n) for n in range(1, MAX_ATTEMPTS + 1)]
    assert ids[0] == BASE
    assert len(set(ids)) == len(ids)
    assert all(len(job_id) <= 20 for job_id in ids)
    assert ids == [attempt_job_id(BASE, n) for n in range(1, MAX_ATTEMPTS + 1)]
    with pytest.raises(ValueError, match="start at 1"):
        attempt_job_id(BASE, 0)
