"""Machine time from the API's own fields: task logs and timestamps, stages, timeouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from include.roboflow_batch.api.models import JobLog, JobMetadata, JobStage, TaskStatus
from include.roboflow_batch.jobs.machine_time import JobSpend, MachineTime, measure, stopped_by_ceiling

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def stage(stage_id: str, start: float, last: float, tasks: int, notification: Any = "ok") -> JobStage:
    return JobStage.model_validate(
        {
            "processingStageId": stage_id,
            "processingStageName": stage_id,
            "tasksNumber": tasks,
            "outputBatches": [],
            "startTimestamp": at(start),
            "notification": notification,
            "statusType": "success",
            "lastEventTimestamp": at(last),
        }
    )


def task(task_id: str, end: float, status: str = "success", progress: float | None = 1.0) -> TaskStatus:
    return TaskStatus.model_validate(
        {
            "taskId": task_id,
            "notification": "",
            "statusType": status,
            "progress": progress,
            "eventTimestamp": at(end),
        }
    )


def log(
    task_id: str | None,
    when: float,
    stage_id: str = "processing",
    kind: str = "task-started",
    severity: str = "info",
    message: str = "",
) -> JobLog:
    return JobLog.model_validate(
        {
            "createdAt": at(when),
            "processingStageId": stage_id,
            "taskId": task_id,
            "severity": severity,
            "reportingModule": "bp",
            "logType": kind,
            "payload": {"message": message},
        }
    )


def job_meta(error: bool = False, notification: Any = None, restarts: int = 0) -> JobMetadata:
    return JobMetadata.model_validate(
        {
            "jobId": "j",
            "name": "j",
            "jobDefinition": {},
            "currentStage": None,
            "plannedStages": [],
            "error": error,
            "isTerminal": True,
            "lastNotification": notification,
            "createdAt": at(0),
            "lastUpdate": at(100),
            "restartParametersOverride": [{}] * restarts,
        }
    )


def job_spend(seconds: float, stopped: bool = False) -> JobSpend:
    return JobSpend(job_meta(error=stopped), MachineTime(seconds, 1), stopped)


def test_machine_time_adds_each_task_from_its_first_log_to_its_last_event() -> None:
    # Two machines in parallel for 10 s each, then a third task queued until one was free.
    stages = [stage("processing", 0, 20, 3), stage("export", 21, 22, 1)]
    tasks = {
        "processing": [task("p-0", 10), task("p-1", 10), task("p-2", 20), task("p-3", 0, "info", None)],
        "export": [task("e-0", 22)],
    }
    logs = [
        log("p-0", 0),
        log("p-1", 0),
        log("p-2", 10),
        log("p-2", 15, kind="task-finished"),
        log("e-0", 21, stage_id="export"),
    ]
    measured = measure(stages, tasks, logs)
    assert measured.seconds == 31.0 and measured.tasks == 4
    assert measured.by_stage == {"processing": 30.0, "export": 1.0}
    assert measured.tasks_without_start_log == 0  # the never-started task is not counted at all


def test_a_task_no_log_names_starts_with_its_stage_an_upper_bound() -> None:
    measured = measure([stage("processing", 0, 20, 2)], {"processing": [task("a", 10), task("b", 20)]}, [])
    assert measured.seconds == 30.0 and measured.tasks_without_start_log == 2


def test_a_running_task_counts_until_the_stage_last_event() -> None:
    measured = measure(
        [stage("processing", 0, 7, 1)], {"processing": [task("a", 3, "info", 0.5)]}, [log("a", 2)]
    )
    assert measured.seconds == 5.0


def test_a_ceiling_stop_is_read_from_error_logs_or_notifications_of_a_failed_job() -> None:
    stopped = [log("a", 5, kind="task-timeout", severity="error", message="exceeded its share")]
    assert stopped_by_ceiling(job_meta(error=True), [], stopped)
    noted = job_meta(
        error=True, notification={"message": "Job failed. Stopped by processingTimeoutSeconds=10"}
    )
    assert stopped_by_ceiling(noted, [], [])
    other = [log("a", 5, kind="task-failed", severity="error", message="3 of 4 files failed")]
    assert not stopped_by_ceiling(job_meta(error=True), [], other)
    # A warning that mentions a time-out (a slow file) is not the ceiling, nor is a job that succeeded.
    slow = [log("a", 5, kind="file-failed", severity="warning", message="read timeout")]
    assert not stopped_by_ceiling(job_meta(error=True), [], slow)
    assert not stopped_by_ceiling(job_meta(error=False), [], stopped)
