"""RoboflowJobTrigger: one event per wait, progress logged on change, timeouts, kills, serde round-trip."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import TriggerEvent

from include.roboflow_batch.api.errors import UnauthorizedError
from include.roboflow_batch.triggers.job import RoboflowJobTrigger, validate_event
from tests.unit.jobs.fakes import (
    FakeHook,
    FakeJobs,
    Snapshot,
    error_log,
    job,
    record_logs,
    refusal,
    stage,
    task,
)


@pytest.fixture
def jobs() -> FakeJobs:
    return FakeJobs()


def make_trigger(jobs: FakeJobs, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> RoboflowJobTrigger:
    hook = FakeHook(jobs)
    monkeypatch.setattr(RoboflowJobTrigger, "_hook", lambda self: hook)
    trigger = RoboflowJobTrigger(job_id="job-1", poll_interval=0, **kwargs)
    trigger.fake_hook = hook  # type: ignore[attr-defined]
    return trigger


async def collect(trigger: RoboflowJobTrigger) -> list[TriggerEvent]:
    return [event async for event in trigger.run()]


def test_serialize_round_trips_through_serde() -> None:
    from airflow.sdk.serde import deserialize, serialize

    trigger = RoboflowJobTrigger(
        job_id="job-1",
        roboflow_conn_id="rf_prod",
        poll_interval=3,
        end_time=1_800_000_000.5,
        abort_on_timeout=True,
        abort_on_kill=False,
        started_at=1_799_999_000.0,
        notification_check_interval=1.5,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "include.roboflow_batch.triggers.job.RoboflowJobTrigger"
    restored_kwargs = deserialize(serialize(kwargs))
    rebuilt = RoboflowJobTrigger(**restored_kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    # Only the connection id crosses the boundary, never a key.
    assert set(kwargs) == {
        "job_id",
        "roboflow_conn_id",
        "poll_interval",
        "end_time",
        "abort_on_timeout",
        "abort_on_kill",
        "started_at",
        "notification_check_interval",
    }


async def test_success_event_carries_output_batches_after_progress(
    jobs: FakeJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    processing = stage("processing", tasks=2)
    jobs.script(
        "job-1",
        Snapshot(job(), [processing], [task("t1"), task("t2")]),
        Snapshot(job(), [processing], [task("t1"), task("t2")]),
        Snapshot(job(), [processing], [task("t1", "success"), task("t2")]),
        Snapshot(
            job(terminal=True, stage="export"),
            [stage("processing", outputs=["job-1-processing"]), stage("export", outputs=["job-1-export"])],
        ),
    )
    trigger = make_trigger(jobs, monkeypatch)
    log = record_logs(monkeypatch, RoboflowJobTrigger)
    events = await collect(trigger)
    assert events == [
        TriggerEvent(
            {
                "status": "success",
                "job_id": "job-1",
                "message": "Roboflow job job-1 succeeded.",
                "output_batches": {"processing": ["job-1-processing"], "export": ["job-1-export"]},
            }
        )
    ]
    progress_lines = [m for m in log.messages("info") if "tasks" in m]
    # Three polls while running, but only two distinct progress states: logged on change only.
    assert progress_lines == [
        "Roboflow job job-1: stage processing, tasks 0/2 done",
        "Roboflow job job-1: stage processing, tasks 1/2 done",
    ]


async def test_failed_job_reports_notification_and_first_error_logs(
    jobs: FakeJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs.script(
        "job-1",
        Snapshot(job(terminal=True, error=True, notification={"message": "Workflow not found: wf-x"})),
    )
    jobs.logs["job-1"] = [error_log(f"task {i} crashed") for i in range(8)]
    events = await collect(make_trigger(jobs, monkeypatch))
    assert len(events) == 1
    payload = events[0].payload
    assert payload["status"] == "failed"
    assert "Workflow not found: wf-x" in payload["message"]
    assert "task 0 crashed" in payload["message"]
    assert "task 4 crashed" in payload["message"]
    assert "task 5 crashed" not in payload["message"]  # only the first few


async def test_deadline_gives_timeout_event_and_aborts_when_asked(
    jobs: FakeJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs.script("job-1", Snapshot(job(), [stage("processing")], [task("t1")]))
    trigger = make_trigger(jobs, monkeypatch, end_time=time.time() - 1, abort_on_timeout=True)
    events = await collect(trigger)
    assert events[0].payload["status"] == "timeout"
    assert events[0].payload["aborted"] is True
    assert "aborted" in events[0].payload["message"]
    assert ("abort_job", "job-1") in jobs.calls


async def test_timeout_with_refused_abort_still_ends_the_wait(
    jobs: FakeJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs.script("job-1", Snapshot(job(stage="export"), [stage("export")], [task("t1")]))
    jobs.abort_error = refusal()
    trigger = make_trigger(jobs, monkeypatch, end_time=time.time() - 1, abort_on_timeout=True)
    payload = (await collect(trigger))[0].payload
    assert payload["status"] == "timeout"
    assert payload["aborted"] is False
    assert "keeps running" in payload["message"]


async def test_timeout_without_abort_leaves_job_alone(
    jobs: FakeJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs.script("job-1", Snapshot(job(), [stage("processing")], [task("t1")]))
    payload = (await collect(make_trigger(jobs, monkeypatch, end_time=time.time() - 1)))[0].payload
    assert payload["status"] == "timeout"
    assert "abort_job" not in jobs.call_names()


async def test_any_exception_becomes_one_redacted_error_event(
    jobs: FakeJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs.get_error = UnauthorizedError(
        "bad key for https://api.example/jobs?api_key=sekret123", status_code=401, operation="get job"
    )
    events = await collect(make_trigger(jobs, monkeypatch))
    assert len(events) == 1
    assert events[0].payload["status"] == "error"
    assert "HTTP 401" in events[0].payload["message"]
    assert "sekret123" not in events[0].payload["message"]


async def test_running_job_keeps_the_trigger_waiting(jobs: FakeJobs, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs.script("job-1", Snapshot(job(), [stage("processing")], [task("t1")]))
    trigger = make_trigger(jobs, monkeypatch)
    trigger.poll_interval = 0.01
    pending = asyncio.ensure_future(trigger.run().__anext__())
    await asyncio.sleep(0.1)
    assert not pending.done()
    assert jobs.call_names().count("get_job") > 1
    pending.cancel()


async def test_on_kill_aborts_the_job(jobs: FakeJobs, monkeypatch: pytest.MonkeyPatch) -> None:
    trigger = make_trigger(jobs, monkeypatch)
    await trigger.on_kill()
    assert jobs.call_names() == ["abort_job"]


async def test_on_kill_handles_refusal_outside_processing(
    jobs: FakeJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs.abort_error = refusal()
    trigger = make_trigger(jobs, monkeypatch)
    log = record_logs(monkeypatch, RoboflowJobTrigger)
    await trigger.on_kill()  # must not raise
    assert any("refused to abort" in m for m in log.messages("warning"))


async def test_on_kill_respects_abort_on_kill_false(jobs: FakeJobs, monkeypatch: pytest.MonkeyPatch) -> None:
    trigger = make_trigger(jobs, monkeypatch, abort_on_kill=False)
    await trigger.on_kill()
    assert jobs.calls == []


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (None, "no event"),
        ("success", "not a dict"),
        ({"status": "done", "job_id": "j", "message": "m"}, "unknown status"),
        ({"job_id": "j", "message": "m"}, "unknown status"),
        ({"status": "success", "job_id": "j", "message": "m"}, "output_batches"),
        ({"status": "failed", "job_id": "j"}, "message"),
        ({"status": "failed", "job_id": "j", "message": 3}, "malformed message"),
        ({"status": "success", "job_id": "j", "message": "m", "output_batches": []}, "must be a dict"),
    ],
)
def test_validate_event_rejects_malformed_events(event: Any, problem: str) -> None:
    with pytest.raises(AirflowException, match=problem):
        validate_event(event)


def test_validate_event_accepts_each_status() -> None:
    for event in (
        {"status": "success", "job_id": "j", "message": "m", "output_batches": {}},
        {"status": "failed", "job_id": "j", "message": "m"},
        {"status": "timeout", "job_id": "j", "message": "m", "aborted": False},
        {"status": "error", "job_id": "j", "message": "m"},
    ):
        assert validate_event(event) == event
