"""Trigger that polls a staging batch until its ingest has settled (async I/O only)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from airflow.triggers.base import TriggerEvent

from include.roboflow_batch.api.errors import RoboflowAPIError
from include.roboflow_batch.hooks.errors import is_transient
from include.roboflow_batch.hooks.roboflow import RoboflowHook
from include.roboflow_batch.ingest.readiness import ReadinessSnapshot
from include.roboflow_batch.ingest.readiness_fetch import afetch_readiness
from include.roboflow_batch.ingest.readiness_watch import waiting_message
from include.roboflow_batch.logs import ProgressReporter
from include.roboflow_batch.notifications.watch import open_watch, pause
from include.roboflow_batch.triggers.base import RoboflowTrigger

__all__ = ["RoboflowBatchReadyTrigger"]


@dataclass(eq=False, repr=False)
class RoboflowBatchReadyTrigger(RoboflowTrigger):
    """Poll D3 (count) and D6 (shards, all pages) until the batch is settled or ``end_time`` passes.

    Yields exactly one event: ``{"status": "success", "message", **counts}`` once nothing is indexing
    and staged + failed files account for ``expected_count``; ``"timeout"`` (with the last counts)
    at ``end_time``; ``"error"`` when polling fails for a reason retrying cannot fix. Passing or
    failing by failure tolerance is the sensor's decision, not the trigger's.

    :param batch_id: the staging batch.
    :param expected_count: files the ingest sent; ``None`` takes the count the shards report.
    :param end_time: absolute deadline (epoch seconds), so it survives a move between triggerers.
    :param roboflow_conn_id: the Roboflow connection (resolved asynchronously; never a secret here).
    :param poll_interval: seconds between polls (the slow fallback when notifications are set up).
    :param notification_check_interval: seconds between checks for a webhook notification about the
        batch (None: no notifications); a new one triggers a poll at once.
    """

    batch_id: str
    expected_count: int | None
    end_time: float
    roboflow_conn_id: str = "roboflow_default"
    poll_interval: float = 5.0
    notification_check_interval: float | None = None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        snapshot: ReadinessSnapshot | None = None
        try:
            client = await RoboflowHook(roboflow_conn_id=self.roboflow_conn_id).aget_client()
            watch = await open_watch(
                self.roboflow_conn_id, {"batch_id": self.batch_id}, self.notification_check_interval
            )
            async with client:
                progress = ProgressReporter(self.log)
                while True:
                    try:
                        snapshot = await afetch_readiness(client, self.batch_id, self.expected_count)
                    except RoboflowAPIError as exc:
                        if not is_transient(exc):
                            raise
                        self.log.warning("Batch %s: poll failed, trying again: %s", self.batch_id, exc)
                    else:
                        if snapshot.settled:
                            yield TriggerEvent(
                                {"status": "success", "message": f"ingest settled: {snapshot.describe()}"}
                                | snapshot.to_summary()
                            )
                            return
                        progress.report(waiting_message(snapshot))
                    remaining = self.end_time - time.time()
                    if remaining <= 0:
                        last = snapshot.describe() if snapshot else f"batch {self.batch_id}: no answer yet"
                        payload: dict[str, Any] = {"batch_id": self.batch_id}
                        if snapshot is not None:
                            payload |= snapshot.to_summary()
                        yield TriggerEvent(
                            {"status": "timeout", "message": f"batch not ready before the deadline; {last}"}
                            | payload
                        )
                        return
                    await pause(watch, min(self.poll_interval, remaining))
        except Exception as exc:
            yield TriggerEvent(
                {
                    "status": "error",
                    "message": f"polling batch {self.batch_id} failed: {type(exc).__name__}: {exc}",
                    "batch_id": self.batch_id,
                }
            )
