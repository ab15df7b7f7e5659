"""Wait for a Roboflow batch job to finish: deferrable by default; mode="reschedule" needs no triggerer."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSensorTimeout

from include.roboflow_batch.api.redaction import redact
from include.roboflow_batch.hooks.errors import roboflow_errors
from include.roboflow_batch.links import JOB_URL_XCOM_KEY, RoboflowJobLink
from include.roboflow_batch.triggers.job import (
    JobProgress,
    RoboflowJobTrigger,
    current_stage,
    failure_message,
    fetch_error_logs,
    progress_of,
    success_event,
    validate_event,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

DEFAULT_TIMEOUT = timedelta(days=7)


class JobWatcher:
    """One synchronous status check at a time; logs progress only when it changed.

    API errors leave ``poll`` as Airflow exceptions (see ``hooks.errors``) naming ``conn_id``.
    """

    def __init__(self, client: Any, job_id: str, log: logging.Logger, conn_id: str | None = None) -> None:
        self.client = client
        self.job_id = job_id
        self.log = log
        self.conn_id = conn_id
        self.last_progress: JobProgress | None = None

    def poll(self) -> dict[str, Any] | None:
        """A terminal event dict (see ``triggers.job``), or None while the job runs."""
        with roboflow_errors(f"status check of Roboflow job {self.job_id}", self.conn_id):
            return self._poll()

    def _poll(self) -> dict[str, Any] | None:
        job = self.client.get_job(self.job_id)
        stages = self.client.list_job_stages(self.job_id)
        if job.is_terminal:
            if job.error:
                logs = fetch_error_logs(self.client, self.job_id)
                return {"status": "failed", "job_id": self.job_id, "message": failure_message(job, logs)}
            return success_event(self.job_id, stages)
        stage = current_stage(job, stages)
        tasks = list(self.client.iter_stage_tasks(self.job_id, stage.processing_stage_id)) if stage else []
        progress = progress_of(job, stage, tasks)
        if progress != self.last_progress:
            self.log.info(progress.describe(self.job_id))
            self.last_progress = progress
        return None


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


def abort_job_quietly(client: Any, job_id: str, log: logging.Logger) -> bool:
    """Best-effort abort: Roboflow only aborts jobs in the processing stage, so refusals are logged."""
    from include.roboflow_batch.api.errors import RoboflowAPIError

    try:
        client.abort_job(job_id)
    except RoboflowAPIError as exc:
        log.warning("Roboflow refused to abort job %s: %s", job_id, redact(str(exc)))
        return False
    except Exception as exc:
        log.warning("Could not abort Roboflow job %s: %s", job_id, redact(str(exc)))
        return False
    log.info("Aborted Roboflow job %s.", job_id)
    return True


class RoboflowJobSensor(BaseSensorOperator):
    """
    Wait until a Roboflow batch job is terminal; succeed if it succeeded, fail with the reason otherwise.

    The task log shows the stage and tasks done/total whenever they change. On failure the exception
    carries the job's last notification and its first error logs.

    :param job_id: the job to watch (templated).
    :param roboflow_conn_id: Airflow connection of the Roboflow API.
    :param deferrable: poke once, then hand the wait to the triggerer (default). With ``False`` use
        ``mode="reschedule"`` to free the worker slot between pokes without a triggerer.
    :param abort_on_kill: abort the job when the task is killed (also while deferred).
    :param abort_on_timeout: abort the job when ``timeout`` expires.
    :return: ``{"job_id", "succeeded", "output_batches": {stage: [batch ids]}}``
    """

    template_fields: Sequence[str] = ("job_id",)
    operator_extra_links = (RoboflowJobLink(),)
    ui_color = "#8b5cf6"

    def __init__(
        self,
        *,
        job_id: str,
        roboflow_conn_id: str = "roboflow_default",
        deferrable: bool = True,
        poke_interval: float = 10,
        timeout: float | timedelta = DEFAULT_TIMEOUT,
        abort_on_kill: bool = True,
        abort_on_timeout: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.job_id = job_id
        self.roboflow_conn_id = roboflow_conn_id
        self.deferrable = deferrable
        self.abort_on_kill = abort_on_kill
        self.abort_on_timeout = abort_on_timeout
        self._watcher: JobWatcher | None = None
        self._job_url: str | None = None

    def _hook(self) -> Any:
        from include.roboflow_batch.hooks.roboflow import RoboflowHook

        return RoboflowHook(roboflow_conn_id=self.roboflow_conn_id)

    @property
    def watcher(self) -> JobWatcher:
        if self._watcher is None:
            from include.roboflow_batch.api.ids import validate_job_id

            try:
                job_id = validate_job_id(self.job_id)
            except ValueError as exc:
                raise AirflowFailException(f"job_id: {exc}") from exc
            hook = self._hook()
            with roboflow_errors(f"connecting to Roboflow for job {job_id}", self.roboflow_conn_id):
                self._watcher = JobWatcher(hook.get_client(), job_id, self.log, self.roboflow_conn_id)
                self._job_url = hook.job_url(job_id)
        return self._watcher

    def poke(self, context: Context) -> bool | PokeReturnValue:
        event = self.watcher.poll()
        if event is None:
            return False
        return PokeReturnValue(
            is_done=True, xcom_value=result_of_event(event, timeout_exception=AirflowSensorTimeout)
        )

    def execute(self, context: Context) -> Any:
        watcher = self.watcher
        # The "Roboflow job" link works for the sensor too (XComs are cleared on each new try).
        context["ti"].xcom_push(key=JOB_URL_XCOM_KEY, value=self._job_url)
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout:
                if self.abort_on_timeout:
                    abort_job_quietly(watcher.client, watcher.job_id, self.log)
                raise
        # Poke once: a job that already finished needs no triggerer round-trip.
        event = watcher.poll()
        if event is not None:
            return result_of_event(event, timeout_exception=AirflowSensorTimeout)
        now = time.time()
        self.defer(
            trigger=RoboflowJobTrigger(
                job_id=watcher.job_id,
                roboflow_conn_id=self.roboflow_conn_id,
                poll_interval=self.poke_interval,
                end_time=now + self.timeout,
                abort_on_timeout=self.abort_on_timeout,
                abort_on_kill=self.abort_on_kill,
                started_at=now,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        result = result_of_event(event, timeout_exception=AirflowSensorTimeout)
        self.log.info(
            "Roboflow job %s succeeded; output batches: %s", result["job_id"], result["output_batches"]
        )
        return result

    def on_kill(self) -> None:
        if self.abort_on_kill and self._watcher is not None:
            abort_job_quietly(self._watcher.client, self._watcher.job_id, self.log)
