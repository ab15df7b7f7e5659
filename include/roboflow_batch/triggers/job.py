"""Waiting for a Roboflow batch job in the triggerer, and the events it sends (see ``jobs.status``)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException
from airflow.triggers.base import TriggerEvent

from include.roboflow_batch.hooks.roboflow import RoboflowHook
from include.roboflow_batch.jobs.clients import AsyncJobsClient
from include.roboflow_batch.jobs.status import error_event, judge, timeout_event
from include.roboflow_batch.jobs.status_fetch import aabort_job_quietly, afetch_snapshot
from include.roboflow_batch.jobs.status_watch import report_progress
from include.roboflow_batch.logs import ProgressReporter
from include.roboflow_batch.notifications.watch import open_watch, pause
from include.roboflow_batch.triggers.base import RoboflowTrigger
from include.roboflow_batch.triggers.events import DEFERRAL_GRACE, EventSchema, check_event

_COMMON_KEYS: dict[str, type] = {"job_id": str, "message": str}
_EVENT_SCHEMA: EventSchema = {
    "success": _COMMON_KEYS | {"output_batches": Mapping},
    "failed": _COMMON_KEYS,
    "timeout": _COMMON_KEYS,
    "error": _COMMON_KEYS,
}


def validate_event(event: Any) -> dict[str, Any]:
    """Check a trigger event strictly (see ``triggers.events``)."""
    return check_event(event, source="Roboflow job trigger", schema=_EVENT_SCHEMA)


def result_of_event(event: Any, *, timeout_exception: type[Exception]) -> dict[str, Any]:
    """Turn a validated terminal event into the task's return value, or raise the matching failure."""
    event = validate_event(event)
    status = event["status"]
    if status == "success":
        return {"job_id": event["job_id"], "succeeded": True, "output_batches": dict(event["output_batches"])}
    if status == "failed":
        # The job itself failed: retrying the Airflow task cannot change that.
        raise AirflowFailException(event["message"])
    if status == "timeout":
        raise timeout_exception(event["message"])
    raise AirflowException(event["message"])


@dataclass(eq=False, repr=False)
class RoboflowJobTrigger(RoboflowTrigger):
    """
    Poll a Roboflow batch job until it is terminal, the deadline passes, or polling fails.

    :param job_id: the job to watch.
    :param roboflow_conn_id: Airflow connection of the Roboflow API (never the key itself).
    :param poll_interval: seconds between status checks.
    :param end_time: absolute deadline (epoch seconds) after which a ``timeout`` event is sent.
    :param abort_on_timeout: abort the job when the deadline passes.
    :param abort_on_kill: abort the job when a user marks the deferred task failed/success or clears it.
    :param started_at: epoch seconds the wait began (for the timeout message).
    :param notification_check_interval: seconds between checks for a webhook notification about the
        job (None: no notifications); a new one triggers a poll at once, ``poll_interval`` is the fallback.
    """

    job_id: str
    roboflow_conn_id: str = "roboflow_default"
    poll_interval: float = 10.0
    end_time: float | None = None
    abort_on_timeout: bool = False
    abort_on_kill: bool = True
    started_at: float | None = None
    notification_check_interval: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.poll_interval = float(self.poll_interval)

    def _hook(self) -> RoboflowHook:
        return RoboflowHook(roboflow_conn_id=self.roboflow_conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            event = await self._wait()
        except Exception as exc:  # every failure becomes exactly one event
            event = error_event(self.job_id, exc)
        yield TriggerEvent(event)

    async def _wait(self) -> dict[str, Any]:
        client = await self._hook().aget_client()
        watch = await open_watch(
            self.roboflow_conn_id, {"job_id": self.job_id}, self.notification_check_interval
        )
        async with client:
            progress = ProgressReporter(self.log)
            while True:
                verdict = judge(self.job_id, await afetch_snapshot(client, self.job_id))
                if verdict.outcome is not None:
                    return verdict.outcome
                report_progress(progress, self.job_id, verdict)
                if self.end_time is not None and time.time() >= self.end_time:
                    aborted = await self._abort(client) if self.abort_on_timeout else False
                    waited = time.time() - self.started_at if self.started_at else None
                    return timeout_event(self.job_id, waited, aborted)
                await pause(watch, self.poll_interval)

    async def _abort(self, client: AsyncJobsClient) -> bool:
        return await aabort_job_quietly(client, self.job_id, self.log)

    async def on_kill(self) -> None:
        if not self.abort_on_kill:
            return
        client = await self._hook().aget_client()
        async with client:
            await self._abort(client)


#: How long a task waits for a job unless told otherwise (the job itself may run longer).
DEFAULT_JOB_WAIT_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class JobWait:
    """How a task waits for a job, the same whether it polls or defers: ``poll_interval`` seconds
    between checks, at most ``timeout`` (seconds or a timedelta), and whether the job is aborted when
    the wait times out or the task is killed."""

    poll_interval: float
    timeout: float | timedelta
    abort_on_timeout: bool = False
    abort_on_kill: bool = True

    @property
    def timeout_seconds(self) -> float:
        return self.timeout.total_seconds() if isinstance(self.timeout, timedelta) else float(self.timeout)

    @property
    def deferral_timeout(self) -> timedelta:
        """The task's deferral deadline: the wait's own, plus time for the trigger to report it."""
        return timedelta(seconds=self.timeout_seconds) + DEFERRAL_GRACE

    def trigger(
        self, job_id: str, roboflow_conn_id: str, notification_check_interval: float | None = None
    ) -> RoboflowJobTrigger:
        """The trigger that waits from now on."""
        now = time.time()
        return RoboflowJobTrigger(
            job_id=job_id,
            roboflow_conn_id=roboflow_conn_id,
            poll_interval=self.poll_interval,
            notification_check_interval=notification_check_interval,
            end_time=now + self.timeout_seconds,
            abort_on_timeout=self.abort_on_timeout,
            abort_on_kill=self.abort_on_kill,
            started_at=now,
        )
