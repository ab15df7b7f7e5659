"""Wait until a staging batch holds (or has reported failed) every file its ingest sent."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
)

from include.roboflow_batch import lineage
from include.roboflow_batch.api.ids import validate_batch_id
from include.roboflow_batch.counts import optional_count
from include.roboflow_batch.hooks.roboflow import RoboflowHook
from include.roboflow_batch.ingest.readiness import describe_failures
from include.roboflow_batch.ingest.readiness_watch import ReadinessWatcher
from include.roboflow_batch.sensors.waiting import RoboflowWaitSensor
from include.roboflow_batch.triggers.batch_ready import RoboflowBatchReadyTrigger
from include.roboflow_batch.triggers.events import DEFERRAL_GRACE, EventSchema, check_event

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["RoboflowBatchReadySensor", "validate_ready_event"]

EVENT_STATUSES = ("success", "error", "timeout")
_SUMMARY_TYPES: dict[str, type | tuple[type, ...]] = {
    "batch_id": str,
    "expected": int,
    "staged": int,
    "failed_count": int,
    "failed": list,
    "failed_by_type": dict,
    "failure_rate": (int, float),
}
_BASE_KEYS: dict[str, type | tuple[type, ...]] = {"message": str, "batch_id": str}
_EVENT_SCHEMA: EventSchema = {
    status: _BASE_KEYS | (_SUMMARY_TYPES if status == "success" else {}) for status in EVENT_STATUSES
}


def validate_ready_event(event: Any) -> dict[str, Any]:
    """Check a trigger event strictly (see ``triggers.events``)."""
    return check_event(event, source="batch-ready trigger", schema=_EVENT_SCHEMA)


class RoboflowBatchReadySensor(RoboflowWaitSensor):
    """Ready when nothing is indexing and staged + failed files account for ``expected_count``.

    Per-file failures (oversize, unreachable or untrusted URLs, unsupported types) are collected from
    every shard, logged by type, and judged against ``max_failure_rate`` (a fraction of the expected
    files): above it the task fails, otherwise it succeeds and returns
    ``{"batch_id", "expected", "staged", "failed_count", "failed" (first 100), "failed_by_type",
    "failure_rate"}``.

    Deferrable by default: one poke, then a ``RoboflowBatchReadyTrigger`` waits on the triggerer.
    Without a triggerer use ``deferrable=False``: reschedule mode (see ``sensors.waiting``).

    :param batch_id: the staging batch (templated).
    :param expected_count: files the ingest sent (an int; templated: the ingest operator's
        ``expected_count``). ``None`` takes the count the service reports for the batch's shards.
    :param max_failure_rate: tolerated fraction of failed files, 0.0 to 1.0.
    :param deferrable: wait on the triggerer instead of a worker slot; ``False`` reschedules the
        task between pokes (no slot held while waiting, pokes at least 60 s apart).
    :param roboflow_conn_id: the Roboflow connection.
    """

    template_fields: Sequence[str] = ("batch_id", "expected_count")
    ui_color = "#b8e0d2"

    def __init__(
        self,
        *,
        batch_id: str,
        expected_count: int | None,
        max_failure_rate: float = 0.0,
        poke_interval: float = 5,
        timeout: float | timedelta = timedelta(hours=6),
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.batch_id = batch_id
        self.expected_count = expected_count
        self.max_failure_rate = max_failure_rate

    def step_lineage(self, result: Mapping[str, Any]) -> Any:
        """The staging batch and how many of its files were staged or failed."""
        counts = {key: result.get(key) for key in ("expected", "staged", "failed_count")}
        return lineage.operator_lineage(
            run_facets=lineage.roboflow_run_facets(batch_id=self.batch_id, counts=counts)
        )

    def _check_arguments(self) -> int | None:
        try:
            validate_batch_id(self.batch_id)
        except ValueError as exc:
            raise AirflowFailException(f"batch_id: {exc}") from exc
        rate = self.max_failure_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
            raise AirflowFailException(f"max_failure_rate must be between 0.0 and 1.0, got {rate!r}")
        try:
            return optional_count("expected_count", self.expected_count)
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from None

    def poke(self, context: Context) -> bool | PokeReturnValue:
        expected = self._check_arguments()
        client = RoboflowHook(roboflow_conn_id=self.roboflow_conn_id).get_client()
        try:
            snapshot = ReadinessWatcher(
                client, self.batch_id, expected, self.log, self.roboflow_conn_id
            ).poll()
        finally:
            # A fresh hook per poke: close its connections rather than leak one pool per poke.
            client.close()
        if snapshot is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._judge(snapshot.to_summary()))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        expected = self._check_arguments()
        first = self.poke(context)
        if isinstance(first, PokeReturnValue) and first.is_done:
            return first.xcom_value
        self.defer(
            trigger=RoboflowBatchReadyTrigger(
                batch_id=self.batch_id,
                expected_count=expected,
                end_time=time.time() + self.timeout,
                roboflow_conn_id=self.roboflow_conn_id,
                poll_interval=self.poke_interval,
                notification_check_interval=self.notification_check_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) + DEFERRAL_GRACE,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        checked = validate_ready_event(event)
        status = checked["status"]
        if status == "success":
            self.log.info(checked["message"])
            return self._judge({key: checked[key] for key in _SUMMARY_TYPES})
        if status == "timeout":
            # soft_fail / never_fail are applied by the Task SDK around execute_complete.
            raise AirflowSensorTimeout(f"Batch {self.batch_id}: {checked['message']}")
        raise AirflowException(f"Batch {self.batch_id}: {checked['message']}")

    def _judge(self, summary: dict[str, Any]) -> dict[str, Any]:
        """Log the failures by type and pass or fail by ``max_failure_rate``."""
        failed_count = summary["failed_count"]
        if failed_count:
            by_type = ", ".join(f"{kind}: {count}" for kind, count in summary["failed_by_type"].items())
            self.log.warning(
                "Batch %s: %d file(s) failed to ingest (%s)", self.batch_id, failed_count, by_type
            )
            for failure in summary["failed"][:10]:
                self.log.warning(
                    "  %s: %s (%s)", failure.get("file_name"), failure.get("type"), failure.get("reason")
                )
        rate = summary["failure_rate"]
        if rate > self.max_failure_rate:
            raise AirflowFailException(
                f"Batch {self.batch_id}: {failed_count} of {summary['expected']} files failed to ingest "
                f"(failure rate {rate:.2%} > max_failure_rate {self.max_failure_rate:.2%}). Failed files: "
                + describe_failures(summary["failed"], failed_count)
            )
        self.log.info(
            "Batch %s ready: %d staged, %d failed of %d expected",
            self.batch_id,
            summary["staged"],
            failed_count,
            summary["expected"],
        )
        return summary
