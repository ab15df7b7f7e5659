"""Waiting for a Roboflow batch job: the shared job-status reading and the deferrable trigger.

The sensor, the start-job operator (sync mode) and the trigger all speak the same event dicts:

- ``{"status": "success", "job_id", "message", "output_batches": {stage: [batch ids]}}``
- ``{"status": "failed",  "job_id", "message"}``   the job ended with ``error=true`` (reason in message)
- ``{"status": "timeout", "job_id", "message", "aborted": bool}``
- ``{"status": "error",   "job_id", "message"}``   the wait itself broke (API unreachable, bad key...)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from include.roboflow_batch.api.redaction import redact
from include.roboflow_batch.triggers.events import EventSchema, check_event

_COMMON_KEYS: dict[str, type] = {"job_id": str, "message": str}
_EVENT_SCHEMA: EventSchema = {
    "success": _COMMON_KEYS | {"output_batches": Mapping},
    "failed": _COMMON_KEYS,
    "timeout": _COMMON_KEYS,
    "error": _COMMON_KEYS,
}
EVENT_STATUSES = frozenset(_EVENT_SCHEMA)
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


def validate_event(event: Any) -> dict[str, Any]:
    """Check a trigger event strictly (see ``triggers.events``)."""
    return check_event(event, source="Roboflow job trigger", schema=_EVENT_SCHEMA)


def _is_running(status_type: str | None) -> bool:
    # The API's convention: "info" is in progress, any other status type is terminal.
    return (status_type or "info").lower() == "info"


def _stage_matches(stage: Any, name: str | None) -> bool:
    return name is not None and name in (stage.processing_stage_name, stage.processing_stage_id)


def current_stage(job: Any, stages: Iterable[Any]) -> Any | None:
    """The stage the job is in: by ``currentStage`` name, else the latest started one."""
    stages = list(stages)
    for stage in stages:
        if _stage_matches(stage, job.current_stage):
            return stage
    if not stages:
        return None
    return max(stages, key=lambda s: s.start_timestamp)


def progress_of(job: Any, stage: Any | None, tasks: Iterable[Any]) -> JobProgress:
    if stage is None:
        return JobProgress(stage=job.current_stage, tasks_done=0, tasks_total=0, tasks_failed=0)
    tasks = list(tasks)
    done = [t for t in tasks if not _is_running(t.status_type)]
    failed = [t for t in done if "error" in (t.status_type or "").lower()]
    total = max(int(stage.tasks_number or 0), len(tasks))
    return JobProgress(
        stage=stage.processing_stage_name, tasks_done=len(done), tasks_total=total, tasks_failed=len(failed)
    )


def output_batches_of(stages: Iterable[Any]) -> dict[str, list[str]]:
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


def describe_log(log: Any) -> str:
    payload = log.payload if isinstance(log.payload, Mapping) else {}
    text = describe_notification(payload) if payload else ""
    where = log.task_id or log.processing_stage_id or log.reporting_module or ""
    return f"[{log.log_type}{' ' + where if where else ''}] {text}".strip()


def failure_message(job: Any, error_logs: list[str]) -> str:
    reason = describe_notification(job.last_notification) or "no reason given"
    message = f"Roboflow job {job.job_id} failed: {reason}"
    if error_logs:
        message += "\nFirst error logs:\n" + "\n".join(f"  - {line}" for line in error_logs)
    return redact(message)


def success_event(job_id: str, stages: Iterable[Any]) -> dict[str, Any]:
    return {
        "status": "success",
        "job_id": job_id,
        "message": f"Roboflow job {job_id} succeeded.",
        "output_batches": output_batches_of(stages),
    }


def timeout_event(job_id: str, seconds_waited: float | None, aborted: bool) -> dict[str, Any]:
    message = f"Timed out waiting for Roboflow job {job_id}"
    if seconds_waited is not None:
        message += f" after {seconds_waited:.0f} s"
    message += "; the job was aborted." if aborted else "; the job keeps running remotely."
    return {"status": "timeout", "job_id": job_id, "message": message, "aborted": aborted}


class RoboflowJobTrigger(BaseTrigger):
    """
    Poll a Roboflow batch job until it is terminal, the deadline passes, or polling fails.

    :param job_id: the job to watch.
    :param roboflow_conn_id: Airflow connection of the Roboflow API (never the key itself).
    :param poll_interval: seconds between status checks.
    :param end_time: absolute deadline (epoch seconds) after which a ``timeout`` event is sent.
    :param abort_on_timeout: abort the job when the deadline passes.
    :param abort_on_kill: abort the job when a user marks the deferred task failed/success or clears it.
    :param started_at: epoch seconds the wait began (for the timeout message).
    """

    def __init__(
        self,
        job_id: str,
        roboflow_conn_id: str = "roboflow_default",
        poll_interval: float = 10.0,
        end_time: float | None = None,
        abort_on_timeout: bool = False,
        abort_on_kill: bool = True,
        started_at: float | None = None,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.roboflow_conn_id = roboflow_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = end_time
        self.abort_on_timeout = abort_on_timeout
        self.abort_on_kill = abort_on_kill
        self.started_at = started_at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_id": self.job_id,
                "roboflow_conn_id": self.roboflow_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "abort_on_timeout": self.abort_on_timeout,
                "abort_on_kill": self.abort_on_kill,
                "started_at": self.started_at,
            },
        )

    def _hook(self) -> Any:
        from include.roboflow_batch.hooks.roboflow import RoboflowHook

        return RoboflowHook(roboflow_conn_id=self.roboflow_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            event = await self._wait()
        except Exception as exc:  # every failure becomes exactly one event
            event = {
                "status": "error",
                "job_id": self.job_id,
                "message": redact(f"Waiting for Roboflow job {self.job_id} failed: {exc}"),
            }
        yield TriggerEvent(event)

    async def _wait(self) -> dict[str, Any]:
        client = await self._hook().aget_client()
        async with client:
            last_progress: JobProgress | None = None
            while True:
                job = await client.get_job(self.job_id)
                stages = await client.list_job_stages(self.job_id)
                if job.is_terminal:
                    if job.error:
                        logs = await afetch_error_logs(client, self.job_id)
                        return {
                            "status": "failed",
                            "job_id": self.job_id,
                            "message": failure_message(job, logs),
                        }
                    return success_event(self.job_id, stages)
                stage = current_stage(job, stages)
                tasks = (
                    [t async for t in client.iter_stage_tasks(self.job_id, stage.processing_stage_id)]
                    if stage is not None
                    else []
                )
                progress = progress_of(job, stage, tasks)
                if progress != last_progress:
                    self.log.info(progress.describe(self.job_id))
                    last_progress = progress
                if self.end_time is not None and time.time() >= self.end_time:
                    aborted = await self._abort(client) if self.abort_on_timeout else False
                    waited = time.time() - self.started_at if self.started_at else None
                    return timeout_event(self.job_id, waited, aborted)
                await asyncio.sleep(self.poll_interval)

    async def _abort(self, client: Any) -> bool:
        from include.roboflow_batch.api.errors import RoboflowAPIError

        try:
            await client.abort_job(self.job_id)
        except RoboflowAPIError as exc:
            # Abort only works while the job is in its processing stage; the refusal is not an error here.
            self.log.warning("Roboflow refused to abort job %s: %s", self.job_id, redact(str(exc)))
            return False
        self.log.info("Aborted Roboflow job %s.", self.job_id)
        return True

    async def on_kill(self) -> None:
        if not self.abort_on_kill:
            return
        client = await self._hook().aget_client()
        async with client:
            await self._abort(client)


async def afetch_error_logs(client: Any, job_id: str, limit: int = MAX_ERROR_LOGS) -> list[str]:
    """The first error logs of a job; a failing log call must not hide the failure itself."""
    lines: list[str] = []
    try:
        async for log in client.iter_job_logs(job_id, severity="error"):
            lines.append(describe_log(log))
            if len(lines) >= limit:
                break
    except Exception as exc:
        lines.append(f"(could not read the job's error logs: {redact(str(exc))})")
    return lines


def fetch_error_logs(client: Any, job_id: str, limit: int = MAX_ERROR_LOGS) -> list[str]:
    """Sync twin of :func:`afetch_error_logs` for workers."""
    lines: list[str] = []
    try:
        for log in client.iter_job_logs(job_id, severity="error"):
            lines.append(describe_log(log))
            if len(lines) >= limit:
                break
    except Exception as exc:
        lines.append(f"(could not read the job's error logs: {redact(str(exc))})")
    return lines
