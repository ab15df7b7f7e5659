"""Wait for a Roboflow batch job to finish: deferrable by default; mode="reschedule" needs no triggerer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

from include.roboflow_batch import lineage
from include.roboflow_batch.hooks.errors import roboflow_errors
from include.roboflow_batch.hooks.roboflow import RoboflowHook
from include.roboflow_batch.jobs.ledger import JobHistory, JobHistoryError
from include.roboflow_batch.jobs.recovery import DEFAULT_MAX_RESTARTS
from include.roboflow_batch.jobs.status_fetch import abort_job_quietly
from include.roboflow_batch.jobs.status_watch import JobWatcher
from include.roboflow_batch.links import JOB_URL_XCOM_KEY, RoboflowJobLink
from include.roboflow_batch.sensors.job_recovery import JobWaitRecovery
from include.roboflow_batch.sensors.waiting import RoboflowWaitSensor
from include.roboflow_batch.triggers.job import DEFAULT_JOB_WAIT_TIMEOUT, JobWait, result_of_event

if TYPE_CHECKING:
    from airflow.sdk import Context


class RoboflowJobSensor(RoboflowWaitSensor):
    """
    Wait until a Roboflow batch job is terminal; succeed if it succeeded, fail with the reason otherwise.

    The task log shows the stage and tasks done/total whenever they change. On failure the exception
    carries the job's last notification and its first error logs.

    The try that sees the job fail reports it and fails. A later try (a retry, or "Clear" of this
    task) that finds the job still failed or aborted restarts it with ``restart_options`` and waits
    again, at most ``max_restarts`` times per run together with the start-job task's restarts (see
    ``sensors.job_recovery``). The interval's job history (the start task's events and this task's
    restarts) is pushed to XCom ``job_history`` at the start of each try, where a re-run of the start
    task reads it, and returned as ``job_history`` for the export.

    :param job_id: the job to watch (templated).
    :param roboflow_conn_id: Airflow connection of the Roboflow API.
    :param deferrable: poke once, then hand the wait to the triggerer (default). With ``False`` the
        sensor runs in reschedule mode: no worker slot while waiting, pokes at least 60 s apart.
    :param abort_on_kill: abort the job when the task is killed (also while deferred).
    :param abort_on_timeout: abort the job when ``timeout`` expires.
    :param max_restarts: restarts of one failed or aborted job per run, shared with the start task.
    :param job_history: the start task's job history (its return value's ``job_history``: a list of
        events, or a ``JobHistory``; templated).
    :param restart_options: the restartable options asked for now (``RestartOverrides`` fields:
        ``machine_type``, ``workers_per_machine``, ``max_parallel_tasks``,
        ``processing_timeout_seconds``, ``max_image_failure_rate``).
    :param restart_ceiling_seconds: ``processingTimeoutSeconds`` a restart carries (the machine time
        the pipeline's budget gave this job); overrides the one in ``restart_options``.
    :param hand_over_ceiling_stops: a job its ceiling (``processingTimeoutSeconds``) stopped is not a
        failure of the wait: it returns ``succeeded`` False and ``stopped_by_ceiling`` True, so that
        what finished is exported, and the run fails later naming the budget.
    :return: ``{"job_id", "succeeded", "output_batches": {stage: [batch ids]}, "job_history"}`` (+
        ``"stopped_by_ceiling"``, ``"message"`` for a job its ceiling stopped)
    """

    template_fields: Sequence[str] = ("job_id", "job_history")
    operator_extra_links = (RoboflowJobLink(),)
    ui_color = "#8b5cf6"

    def __init__(
        self,
        *,
        job_id: str,
        poke_interval: float = 10,
        timeout: float | timedelta = DEFAULT_JOB_WAIT_TIMEOUT,
        abort_on_kill: bool = True,
        abort_on_timeout: bool = False,
        max_restarts: int = DEFAULT_MAX_RESTARTS,
        job_history: JobHistory | Sequence[Mapping[str, Any]] | None = None,
        restart_options: Mapping[str, Any] | None = None,
        restart_ceiling_seconds: int | None = None,
        hand_over_ceiling_stops: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.job_id = job_id
        self.abort_on_kill = abort_on_kill
        self.abort_on_timeout = abort_on_timeout
        self.max_restarts = max_restarts
        self.job_history = job_history
        self.restart_options = dict(restart_options or {})
        self.restart_ceiling_seconds = restart_ceiling_seconds
        self.hand_over_ceiling_stops = hand_over_ceiling_stops
        self._watcher: JobWatcher | None = None
        self._job_url: str | None = None

    def step_lineage(self, result: Mapping[str, Any]) -> Any:
        """The job waited for, and the output batches it produced."""
        outputs = [batch for batches in (result.get("output_batches") or {}).values() for batch in batches]
        return lineage.operator_lineage(
            run_facets=lineage.roboflow_run_facets(
                job_id=result.get("job_id") or self.job_id, job_url=self._job_url, batch_ids=outputs
            )
        )

    def _hook(self) -> RoboflowHook:
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

    def _recovery(self, context: Context) -> JobWaitRecovery:
        try:
            published = JobHistory.from_entries(self.job_history)
        except JobHistoryError as exc:
            raise AirflowFailException(f"job_history: {exc}") from None
        options = dict(self.restart_options)
        if isinstance(self.restart_ceiling_seconds, int) and self.restart_ceiling_seconds > 0:
            options["processing_timeout_seconds"] = self.restart_ceiling_seconds
        return JobWaitRecovery(
            context,
            published_history=published,
            max_restarts=self.max_restarts,
            restart_options=options,
        )

    def _result(self, context: Context, event: Any) -> dict[str, Any]:
        """The task's return value for a terminal event (or the failure it means), with the history; a
        job its ceiling stopped is handed over when asked to."""
        history = {"job_history": self._recovery(context).history().entries()}
        if self.hand_over_ceiling_stops and isinstance(event, dict) and event.get("status") == "failed":
            from include.roboflow_batch.jobs.machine_time import fetch_job_spend
            from include.roboflow_batch.jobs.status import output_batches_of

            watcher = self.watcher
            with roboflow_errors(f"reading Roboflow job {watcher.job_id}", self.roboflow_conn_id):
                spend = fetch_job_spend(watcher.client, watcher.job_id)
            if spend.stopped_by_ceiling:
                self.log.warning(
                    "Roboflow job %s was stopped by its machine-time ceiling (processingTimeoutSeconds) "
                    "after %.1f machine-seconds; what finished is exported. %s",
                    watcher.job_id,
                    spend.machine_time.seconds,
                    event.get("message", ""),
                )
                return {
                    "job_id": watcher.job_id,
                    "succeeded": False,
                    "stopped_by_ceiling": True,
                    "message": str(event.get("message", "")),
                    "output_batches": output_batches_of(spend.stages),
                    **history,
                }
        return result_of_event(event, timeout_exception=AirflowSensorTimeout) | history

    def _recover_at_try_start(self, context: Context, watcher: JobWatcher) -> None:
        """A later try (a retry or a clear) that finds the job failed or aborted restarts it, once
        per try; the first try reports the failure instead (see ``sensors.job_recovery``)."""
        recovery = self._recovery(context)
        recovery.publish()
        if not recovery.may_restart() or not recovery.starts_try():
            return
        event = watcher.poll()
        if event is None or event["status"] != "failed":
            return
        with roboflow_errors(f"restart of Roboflow job {watcher.job_id}", self.roboflow_conn_id):
            recovery.restart(watcher.client, watcher.job_id, str(event.get("message", "")), self.log)

    def poke(self, context: Context) -> bool | PokeReturnValue:
        event = self.watcher.poll()
        if event is None:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._result(context, event))

    def execute(self, context: Context) -> Any:
        watcher = self.watcher
        # The "Roboflow job" link works for the sensor too (XComs are cleared on each new try).
        context["ti"].xcom_push(key=JOB_URL_XCOM_KEY, value=self._job_url)
        self._recover_at_try_start(context, watcher)
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
            return self._result(context, event)
        wait = JobWait(self.poke_interval, self.timeout, self.abort_on_timeout, self.abort_on_kill)
        self.defer(
            trigger=wait.trigger(watcher.job_id, self.roboflow_conn_id, self.notification_check_interval),
            method_name="execute_complete",
            timeout=wait.deferral_timeout,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        result = self._result(context, event)
        if result.get("stopped_by_ceiling"):
            return result
        self.log.info(
            "Roboflow job %s succeeded; output batches: %s", result["job_id"], result["output_batches"]
        )
        return result

    def on_kill(self) -> None:
        if self.abort_on_kill and self._watcher is not None:
            abort_job_quietly(self._watcher.client, self._watcher.job_id, self.log)
