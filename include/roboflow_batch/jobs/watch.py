"""Polling a job from a worker: one status check at a time, progress logged only when it changed."""

from __future__ import annotations

from typing import Any

from include.roboflow_batch.hooks.errors import roboflow_errors
from include.roboflow_batch.jobs.clients import JobsClient
from include.roboflow_batch.jobs.fetch import fetch_snapshot
from include.roboflow_batch.jobs.status import JobProgress, JobVerdict, judge
from include.roboflow_batch.logs import TaskLog


class ProgressLog:
    """Logs a job's progress when it differs from what was logged last (polls repeat a lot)."""

    def __init__(self, job_id: str, log: TaskLog) -> None:
        self.job_id = job_id
        self.log = log
        self.last: JobProgress | None = None

    def update(self, verdict: JobVerdict) -> None:
        if verdict.is_terminal or verdict.progress == self.last:
            return
        self.log.info(verdict.progress.describe(self.job_id))
        self.last = verdict.progress


class JobWatcher:
    """Synchronous status checks of one job.

    API errors leave ``poll`` as Airflow exceptions (see ``hooks.errors``) naming ``conn_id``.
    """

    def __init__(self, client: JobsClient, job_id: str, log: TaskLog, conn_id: str | None = None) -> None:
        self.client = client
        self.job_id = job_id
        self.conn_id = conn_id
        self.progress = ProgressLog(job_id, log)

    def poll(self) -> dict[str, Any] | None:
        """A terminal event dict (see ``jobs.status``), or None while the job runs."""
        with roboflow_errors(f"status check of Roboflow job {self.job_id}", self.conn_id):
            verdict = judge(self.job_id, fetch_snapshot(self.client, self.job_id))
        self.progress.update(verdict)
        return verdict.outcome
