"""RoboflowJobSensor: poke then defer, reschedule mode without triggerer, failures with reasons, kills."""

from __future__ import annotations

import time
from typing import Any

import pytest
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowRescheduleException,
    AirflowSensorTimeout,
    TaskDeferred,
)

from include.roboflow_batch.sensors.job import RoboflowJobSensor
from include.roboflow_batch.triggers.job import RoboflowJobTrigger
from tests.unit.jobs.fakes import (
    FakeHook,
    FakeJobs,
    Snapshot,
    error_log,
    job,
    make_context,
    record_logs,
    refusal,
    stage,
    task,
)


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> FakeJobs:
    fake = FakeJobs()
    hook = FakeHook(fake)
    monkeypatch.setattr(RoboflowJobSensor, "_hook", lambda self: hook)
    return fake


def make_sensor(**kwargs: Any) -> RoboflowJobSensor:
    return RoboflowJobSensor(task_id="wait_for_job", job_id="job-1", **kwargs)


def finished(job_id: str = "job-1") -> Snapshot:
    return Snapshot(
        job(job_id, terminal=True, stage="export"),
        [
            stage("processing", outputs=[f"{job_id}-processing"]),
            stage("export", outputs=[f"{job_id}-export"]),
        ],
    )


def test_running_job_defers_to_the_job_trigger_with_an_absolute_deadline(jobs: FakeJobs) -> None:
    jobs.script("job-1", Snapshot(job(), [stage("processing")], [task("t1")]))
    sensor = make_sensor(timeout=600, poke_interval=7, abort_on_timeout=True, roboflow_conn_id="rf")
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(make_context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, RoboflowJobTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert trigger.job_id == "job-1"
    assert trigger.roboflow_conn_id == "rf"
    assert trigger.poll_interval == 7
    assert trigger.abort_on_timeout is True
    assert before + 600 <= trigger.end_time <= time.time() + 600


def test_finished_job_returns_without_deferring(jobs: FakeJobs) -> None:
    jobs.script("job-1", finished())
    result = make_sensor().execute(make_context())
    assert result == {
        "job_id": "job-1",
        "succeeded": True,
        "output_batches": {"processing": ["job-1-processing"], "export": ["job-1-export"]},
        "job_history": [],
    }


def test_failed_job_fails_with_reason_and_error_logs(jobs: FakeJobs) -> None:
    jobs.script("job-1", Snapshot(job(terminal=True, error=True, notification="Processing timed out")))
    jobs.logs["job-1"] = [error_log("OOM on worker 3")]
    with pytest.raises(AirflowFailException) as failure:
        make_sensor().execute(make_context())
    assert "Processing timed out" in str(failure.value)
    assert "OOM on worker 3" in str(failure.value)
    # The way out: a re-run of the interval's start-job task restarts the job.
    assert "clear the task that waits for the job" in str(failure.value)


def test_execute_complete_returns_output_batches_on_success(jobs: FakeJobs) -> None:
    event = {"status": "success", "job_id": "job-1", "message": "ok", "output_batches": {"export": ["b"]}}
    assert make_sensor().execute_complete(make_context(), event) == {
        "job_id": "job-1",
        "succeeded": True,
        "output_batches": {"export": ["b"]},
        "job_history": [],
    }


@pytest.mark.parametrize(
    ("event", "exception"),
    [
        (None, AirflowException),
        ({"status": "weird", "job_id": "job-1", "message": "m"}, AirflowException),
        ({"status": "success", "job_id": "job-1", "message": "m"}, AirflowException),
        ({"status": "failed", "job_id": "job-1", "message": "boom"}, AirflowFailException),
        ({"status": "timeout", "job_id": "job-1", "message": "late", "aborted": False}, AirflowSensorTimeout),
        ({"status": "error", "job_id": "job-1", "message": "HTTP 401"}, AirflowException),
    ],
)
def test_execute_complete_raises_for_every_non_success_event(
    jobs: FakeJobs, event: Any, exception: type[Exception]
) -> None:
    with pytest.raises(exception):
        make_sensor().execute_complete(make_context(), event)


def test_reschedule_mode_pokes_without_a_triggerer(jobs: FakeJobs) -> None:
    jobs.script("job-1", Snapshot(job(), [stage("processing")], [task("t1")]))
    sensor = make_sensor(deferrable=False, mode="reschedule", poke_interval=60)
    context = make_context()
    context["ti"].get_first_reschedule_date.return_value = None
    with pytest.raises(AirflowRescheduleException):
        sensor.execute(context)


def test_reschedule_mode_finishes_on_success(jobs: FakeJobs) -> None:
    jobs.script("job-1", finished())
    sensor = make_sensor(deferrable=False, mode="reschedule")
    context = make_context()
    context["ti"].get_first_reschedule_date.return_value = None
    assert sensor.execute(context)["succeeded"] is True


def test_poke_mode_timeout_aborts_when_asked(jobs: FakeJobs) -> None:
    jobs.script("job-1", Snapshot(job(), [stage("processing")], [task("t1")]))
    sensor = make_sensor(deferrable=False, mode="poke", timeout=0, poke_interval=0, abort_on_timeout=True)
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute(make_context())
    assert ("abort_job", "job-1") in jobs.calls


def test_progress_is_logged_only_when_it_changes(jobs: FakeJobs, monkeypatch: pytest.MonkeyPatch) -> None:
    running = Snapshot(job(), [stage("processing", tasks=3)], [task("a"), task("b"), task("c")])
    one_done = Snapshot(job(), [stage("processing", tasks=3)], [task("a", "success"), task("b"), task("c")])
    jobs.script("job-1", running, running, running, one_done)
    log = record_logs(monkeypatch, RoboflowJobSensor)
    sensor = make_sensor()
    context = make_context()
    assert [sensor.poke(context) for _ in range(4)] == [False] * 4
    assert [m for m in log.messages("info") if "tasks" in m] == [
        "Roboflow job job-1: stage processing, tasks 0/3 done",
        "Roboflow job job-1: stage processing, tasks 1/3 done",
    ]


def test_on_kill_aborts_the_watched_job(jobs: FakeJobs) -> None:
    jobs.script("job-1", Snapshot(job(), [stage("processing")], [task("t1")]))
    sensor = make_sensor()
    with pytest.raises(TaskDeferred):
        sensor.execute(make_context())
    sensor.on_kill()
    assert jobs.call_names()[-1] == "abort_job"


def test_on_kill_survives_a_refused_abort(jobs: FakeJobs, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs.script("job-1", Snapshot(job(stage="export"), [stage("export")], [task("t1")]))
    jobs.abort_error = refusal()
    log = record_logs(monkeypatch, RoboflowJobSensor)
    sensor = make_sensor()
    with pytest.raises(TaskDeferred):
        sensor.execute(make_context())
    sensor.on_kill()
    assert any("refused to abort" in m for m in log.messages("warning"))


def test_on_kill_does_nothing_when_disabled(jobs: FakeJobs) -> None:
    jobs.script("job-1", Snapshot(job(), [stage("processing")], [task("t1")]))
    sensor = make_sensor(abort_on_kill=False)
    with pytest.raises(TaskDeferred):
        sensor.execute(make_context())
    sensor.on_kill()
    assert "abort_job" not in jobs.call_names()


def test_invalid_job_id_is_rejected_before_any_call(jobs: FakeJobs) -> None:
    sensor = RoboflowJobSensor(task_id="wait", job_id="Job With Spaces")
    with pytest.raises(AirflowFailException, match="job_id"):
        sensor.execute(make_context())
    assert jobs.calls == []


def test_job_url_is_pushed_for_the_extra_link_before_deferring(jobs: FakeJobs) -> None:
    jobs.script("job-1", Snapshot(job(), [stage("processing")], [task("t1")]))
    context = make_context()
    with pytest.raises(TaskDeferred):
        make_sensor().execute(context)
    assert context["ti"].pushed["job_url"].endswith("/job-1")
