"""Fetching a job snapshot, its error logs, and aborting it: one sync and one async face each.

The two faces differ only in ``await``; every decision about the answers is made in ``jobs.status``.
"""

from __future__ import annotations

from itertools import islice

from include.roboflow_batch.api.errors import RoboflowAPIError
from include.roboflow_batch.api.redaction import redact
from include.roboflow_batch.jobs.clients import AsyncJobsClient, JobsClient
from include.roboflow_batch.jobs.status import (
    MAX_ERROR_LOGS,
    JobSnapshot,
    current_stage,
    describe_log,
    unreadable_logs,
)
from include.roboflow_batch.logs import TaskLog


def fetch_error_logs(client: JobsClient, job_id: str, limit: int = MAX_ERROR_LOGS) -> list[str]:
    """The first error logs of a job; a failing log call must not hide the failure itself."""
    lines: list[str] = []
    try:
        for log in islice(client.iter_job_logs(job_id, severity="error"), limit):
            lines.append(describe_log(log))
    except Exception as exc:
        return lines + unreadable_logs(exc)
    return lines


async def afetch_error_logs(client: AsyncJobsClient, job_id: str, limit: int = MAX_ERROR_LOGS) -> list[str]:
    """Async face of :func:`fetch_error_logs`."""
    lines: list[str] = []
    try:
        async for log in client.iter_job_logs(job_id, severity="error"):
            lines.append(describe_log(log))
            if len(lines) >= limit:
                break
    except Exception as exc:
        return lines + unreadable_logs(exc)
    return lines


def fetch_snapshot(client: JobsClient, job_id: str) -> JobSnapshot:
    """Job and stages; then the error logs of a failed job, or the current stage's tasks of a running one."""
    job, stages = client.get_job(job_id), client.list_job_stages(job_id)
    if job.is_terminal:
        return JobSnapshot(job, stages, error_logs=fetch_error_logs(client, job_id) if job.error else [])
    stage = current_stage(job, stages)
    tasks = list(client.iter_stage_tasks(job_id, stage.processing_stage_id)) if stage else []
    return JobSnapshot(job, stages, tasks=tasks)


async def afetch_snapshot(client: AsyncJobsClient, job_id: str) -> JobSnapshot:
    """Async face of :func:`fetch_snapshot`."""
    job, stages = await client.get_job(job_id), await client.list_job_stages(job_id)
    if job.is_terminal:
        logs = await afetch_error_logs(client, job_id) if job.error else []
        return JobSnapshot(job, stages, error_logs=logs)
    stage = current_stage(job, stages)
    aiter_tasks = client.iter_stage_tasks(job_id, stage.processing_stage_id) if stage else None
    return JobSnapshot(job, stages, tasks=[t async for t in aiter_tasks] if aiter_tasks else [])


def report_abort(log: TaskLog, job_id: str, exc: Exception | None) -> bool:
    """Log how an abort went; True when the job was aborted.

    Roboflow only aborts jobs in the processing stage, so a refusal is a warning, not an error.
    """
    if exc is None:
        log.info("Aborted Roboflow job %s.", job_id)
        return True
    if isinstance(exc, RoboflowAPIError):
        log.warning("Roboflow refused to abort job %s: %s", job_id, redact(str(exc)))
    else:
        log.warning("Could not abort Roboflow job %s: %s", job_id, redact(str(exc)))
    return False


def abort_job_quietly(client: JobsClient, job_id: str, log: TaskLog) -> bool:
    """Best-effort abort: failures are logged, never raised."""
    try:
        client.abort_job(job_id)
    except Exception as exc:
        return report_abort(log, job_id, exc)
    return report_abort(log, job_id, None)


async def aabort_job_quietly(client: AsyncJobsClient, job_id: str, log: TaskLog) -> bool:
    """Async face of :func:`abort_job_quietly`."""
    try:
        await client.abort_job(job_id)
    except Exception as exc:
        return report_abort(log, job_id, exc)
    return report_abort(log, job_id, None)
