"""Watching a staging batch from a worker: one readiness check at a time (the sensor's pokes).

The readiness wait's worker face; the triggerer runs the same fetch and judgement asynchronously
(``triggers.batch_ready``). A transient failure (time-out, 429, 5xx) is logged and the batch counts
as not settled yet, so the next check asks again; any other failure fails the task.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowFailException

from include.roboflow_batch.api.client import RoboflowClient
from include.roboflow_batch.api.errors import RoboflowAPIError
from include.roboflow_batch.hooks.errors import describe_failure, is_transient
from include.roboflow_batch.ingest.readiness import ReadinessSnapshot
from include.roboflow_batch.ingest.readiness_fetch import fetch_readiness
from include.roboflow_batch.logs import ProgressReporter, TaskLog


def waiting_message(snapshot: ReadinessSnapshot) -> str:
    return f"Waiting: {snapshot.describe()}"


class ReadinessWatcher:
    """Synchronous readiness checks of one batch; ``poll`` gives the settled snapshot or None."""

    def __init__(
        self, client: RoboflowClient, batch_id: str, expected: int | None, log: TaskLog, conn_id: str
    ) -> None:
        self.client = client
        self.batch_id = batch_id
        self.expected = expected
        self.log = log
        self.conn_id = conn_id
        self.progress = ProgressReporter(log)

    def poll(self) -> ReadinessSnapshot | None:
        try:
            snapshot = fetch_readiness(self.client, self.batch_id, self.expected)
        except RoboflowAPIError as exc:
            if is_transient(exc):
                self.log.warning("Batch %s: poll failed, trying again: %s", self.batch_id, exc)
                return None
            action = f"readiness check of batch {self.batch_id}"
            raise AirflowFailException(describe_failure(action, exc, self.conn_id)) from exc
        if not snapshot.settled:
            self.progress.report(waiting_message(snapshot))
            return None
        return snapshot
