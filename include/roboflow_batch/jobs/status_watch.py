"""Watching a job from a worker: one status check at a time, progress logged only when it changed.

The job wait's worker face (the sensor's pokes, the start-job operator's own wait); the triggerer
runs the same fetch and judgement asynchronously (``triggers.job``).
"""

from __future__ import annotations

from typing import Any

from include.roboflow_batch.hooks.errors import roboflow_errors
from include.roboflow_batch.jobs.clients import JobsClient
from include.roboflow_batch.jobs.status import JobVerdict, judge
from include.roboflow_batch.jobs.status_fetch import fetch_snapshot
from include.roboflow_batch.logs import ProgressReporter, TaskLog


def report_progress(progress: ProgressReporter, job_id: str, verdict: JobVerdict) -> None:
    """Log the stage and tasks of a running job when they changed."""
    if not verdict.is_terminal:
        progress.report(verdict.progress.describe(job_id))


class JobWatcher:
    """Synchronous status checks of one job.

    API errors leave ``poll`` as Airflow exceptions (see ``hooks.errors``) naming ``conn_id``.
    """

    def __init__(self, client: JobsClient, job_id: str, log: TaskLog, conn_id: str | None = None) -> None:
        self.client = client
        self.job_id = job_id
        self.conn_id = conn_id
        self.progress = ProgressReporter(log)

    def poll(self) -> dict[str, Any] | None:
        """A terminal event dict (see ``jobs.status``), or None while the job runs."""
        with roboflow_errors(f"status check of Roboflow job {self.job_id}", self.conn_id):
            verdict = judge(self.job_id, fetch_snapshot(self.client, self.job_id))
        report_progress(self.progress, self.job_id, verdict)
        return verdict.outcome
