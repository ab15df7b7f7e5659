"""What a job snapshot means: progress, current stage, terminal or not, and why it failed.

Pure functions over the API's models, shared by the start-job operator, the job sensor and the job
trigger. Terminal outcomes are the event dicts the trigger sends (see ``triggers.job``):

- ``{"status": "success", "job_id", "message", "output_batches": {stage: [batch ids]}}``
- ``{"status": "failed",  "job_id", "message"}``   the job ended with ``error=true`` (reason in message)
- ``{"status": "timeout", "job_id", "message", "aborted": bool}``
- ``{"status": "error",   "job_id", "message"}``   the wait itself broke (API unreachable, bad key...)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from include.roboflow_batch.api.models import JobLog, JobMetadata, JobStage, TaskStatus
from include.roboflow_batch.api.redaction import redact

# How many error log entries go into a failure message: enough to diagnose, short enough to read.
MAX_ERROR_LOGS = 5


@dataclass(frozen=True)
class JobProgress:
    """What a user wants to see while a job runs: the stage and how many of its tasks are done."""

    stage: str | None
    tasks_done: int
    tasks_total: int
    tasks_failed: int

    def describe(self, job_id: str) -> str:
        if self.stage is None:
            return f"Roboflow job {job_id}: waiting to start"
        text = f"Roboflow job {job_id}: stage {self.stage}, tasks {self.tasks_done}/{self.tasks_total} done"
        if self.tasks_failed:
            text += f" ({self.tasks_failed} failed)"
        return text


@dataclass(frozen=True)
class JobSnapshot:
    """One poll's worth of a job: its metadata, its stages, the current stage's tasks (while it runs)
    and its first error logs (once it failed)."""

    job: JobMetadata
    stages: list[JobStage]
    tasks: list[TaskStatus] = field(default_factory=list)
    error_logs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class JobVerdict:
    """The judgement of one snapshot: ``outcome`` is the terminal event, None while the job runs."""

    progress: JobProgress
    outcome: dict[str, Any] | None

    @property
    def is_terminal(self) -> bool:
        return self.outcome is not None


def is_running(status_type: str | None) -> bool:
    # The API's convention: "info" is in progress, any other status type is terminal.
    return (status_type or "info").lower() == "info"


def _stage_matches(stage: JobStage, name: str | None) -> bool:
    return name is not None and name in (stage.processing_stage_name, stage.processing_stage_id)


def current_stage(job: JobMetadata, stages: Iterable[JobStage]) -> JobStage | None:
    """The stage the job is in: by ``currentStage`` name, else the latest started one."""
    stages = list(stages)
    for stage in stages:
        if _stage_matches(stage, job.current_stage):
            return stage
    if not stages:
        return None
    return max(stages, key=lambda s: s.start_timestamp)


def progress_of(job: JobMetadata, stage: JobStage | None, tasks: Iterable[TaskStatus]) -> JobProgress:
    if stage is None:
        return JobProgress(stage=job.current_stage, tasks_done=0, tasks_total=0, tasks_failed=0)
    tasks = list(tasks)
    done = [t for t in tasks if not is_running(t.status_type)]
    failed = [t for t in done if "error" in (t.status_type or "").lower()]
    total = max(int(stage.tasks_number or 0), len(tasks))
    return JobProgress(
        stage=stage.processing_stage_name, tasks_done=len(done), tasks_total=total, tasks_failed=len(failed)
    )


def output_batches_of(stages: Iterable[JobStage]) -> dict[str, list[str]]:
    return {stage.processing_stage_name: list(stage.output_batches or []) for stage in stages}


def describe_notification(notification: Any) -> str:
    """``lastNotification`` is free-form (object or string); prefer its human message."""
    if notification is None:
        return ""
    if isinstance(notification, str):
        return notification
    if isinstance(notification, Mapping):
        for key in ("message", "reason", "error"):
            if notification.get(key):
                return str(notification[key])
    return json.dumps(notification, default=str, sort_keys=True)


def describe_log(log: JobLog) -> str:
    payload = log.payload if isinstance(log.payload, Mapping) else {}
    text = describe_notification(payload) if payload else ""
    where = log.task_id or log.processing_stage_id or log.reporting_module or ""
    return f"[{log.log_type}{' ' + where if where else ''}] {text}".strip()


def unreadable_logs(exc: BaseException) -> list[str]:
    """The error-log lines when the logs themselves could not be read: the failure must still show."""
    return [f"(could not read the job's error logs: {redact(str(exc))})"]


def failure_message(job: JobMetadata, error_logs: list[str]) -> str:
    reason = describe_notification(job.last_notification) or "no reason given"
    message = f"Roboflow job {job.job_id} failed: {reason}"
    if error_logs:
        message += "\nFirst error logs:\n" + "\n".join(f"  - {line}" for line in error_logs)
    # The way out from Airflow: the next try of the wait, or a re-run of start_job, restarts the job.
    message += (
        "\nTo try again, clear the task that waits for the job, or re-run the interval from its "
        "start-job task (clear it with its downstream tasks): the job is restarted with the options "
        "the pipeline asks for then."
    )
    return redact(message)


def success_event(job_id: str, stages: Iterable[JobStage]) -> dict[str, Any]:
    return {
        "status": "success",
        "job_id": job_id,
        "message": f"Roboflow job {job_id} succeeded.",
        "output_batches": output_batches_of(stages),
    }


def failed_event(job_id: str, job: JobMetadata, error_logs: list[str]) -> dict[str, Any]:
    return {"status": "failed", "job_id": job_id, "message": failure_message(job, error_logs)}


def timeout_event(job_id: str, seconds_waited: float | None, aborted: bool) -> dict[str, Any]:
    message = f"Timed out waiting for Roboflow job {job_id}"
    if seconds_waited is not None:
        message += f" after {seconds_waited:.0f} s"
    message += "; the job was aborted." if aborted else "; the job keeps running remotely."
    return {"status": "timeout", "job_id": job_id, "message": message, "aborted": aborted}


def error_event(job_id: str, exc: BaseException) -> dict[str, Any]:
    return {
        "status": "error",
        "job_id": job_id,
        "message": redact(f"Waiting for Roboflow job {job_id} failed: {exc}"),
    }


def judge(job_id: str, snapshot: JobSnapshot) -> JobVerdict:
    """Progress and, once the job is terminal, its outcome event."""
    job = snapshot.job
    stage = None if job.is_terminal else current_stage(job, snapshot.stages)
    progress = progress_of(job, stage, snapshot.tasks)
    if not job.is_terminal:
        return JobVerdict(progress=progress, outcome=None)
    if job.error:
        return JobVerdict(progress=progress, outcome=failed_event(job_id, job, snapshot.error_logs))
    return JobVerdict(progress=progress, outcome=success_event(job_id, snapshot.stages))
