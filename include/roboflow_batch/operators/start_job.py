"""Start a Roboflow Workflow job on a staged batch exactly once per task instance; optionally wait for it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import (  # type: ignore[attr-defined]  # NEVER_EXPIRE is missing from the sdk's stub
    NEVER_EXPIRE,
    conf,
)
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from include.roboflow_batch import lineage
from include.roboflow_batch.api.jobs import JOB_OPTION_FIELDS, RestartOverrides, WorkflowJobSpec
from include.roboflow_batch.hooks.errors import credits_advice, roboflow_errors
from include.roboflow_batch.jobs.clients import JobsClient
from include.roboflow_batch.jobs.ledger import JOB_HISTORY_XCOM_KEY, JobHistory
from include.roboflow_batch.jobs.ledger_store import TaskLedger
from include.roboflow_batch.jobs.recovery import (
    DEFAULT_MAX_RESTARTS,
    ON_CHANGED_DEFINITION_CHOICES,
    Decision,
)
from include.roboflow_batch.jobs.status import timeout_event
from include.roboflow_batch.jobs.status_fetch import abort_job_quietly
from include.roboflow_batch.jobs.status_watch import JobWatcher
from include.roboflow_batch.links import JOB_ID_XCOM_KEY, JOB_URL_XCOM_KEY, RoboflowJobLink
from include.roboflow_batch.operators.base import RoboflowOperator
from include.roboflow_batch.retention import RERUN_ADVICE
from include.roboflow_batch.triggers.job import DEFAULT_JOB_WAIT_TIMEOUT, JobWait, result_of_event

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Key of the job id in the task instance's ``task_state_store`` (survives retries and worker crashes).
JOB_ID_STATE_KEY = "roboflow_job_id"
#: The attempt this task last attached to (its restarts and events: ``jobs.ledger_store``).
JOB_ATTEMPT_STATE_KEY = "roboflow_job_attempt"
#: When this task first ran (before its first remote call): a job created since is its own.
FIRST_RUN_STATE_KEY = "roboflow_first_run_at"
__all__ = ["JOB_HISTORY_XCOM_KEY", "RoboflowStartJobOperator"]


class RoboflowStartJobOperator(lineage.StepLineage, RoboflowOperator):
    """
    Start a Roboflow batch job running a Workflow over a staged batch of images or videos.

    The job id is deterministic (dag, data interval or run id, task, map index, batch, workflow) unless
    ``job_id`` is given, and it is kept in the task's ``task_state_store`` before the job is created. A retry
    or a crashed worker therefore re-attaches to the same job and never starts a second, billable one:
    the interval's jobs are looked up first (see ``include.roboflow_batch.jobs.recovery``): a job whose
    results would be what the pipeline asks for is re-attached (running or succeeded) or restarted with
    the options asked for now (failed or aborted, at most ``max_restarts`` times); a job whose results
    would differ (workflow, its parameters, the input batch, image inputs, output format, ...) is never
    re-attached: ``on_changed_definition`` ``"new_job"`` starts the next attempt ``<id>-a<N>`` (a
    running job is aborted, and seen terminal, first), ``"fail"`` fails the task naming the changes. A
    job that is not the interval's own is never acted on. Every step is kept in the task state and
    returned (and pushed to XCom) as ``job_history``, for the task that waits for the job and the manifest.

    Every option of the job body is a templated snake_case parameter; the body is validated before any
    remote call. ``job_id`` and ``job_url`` go to XCom (and the "Roboflow job" link) before any wait.

    :param batch_id: staged input batch; None derives the same id the ingest operator derives
        (``identity.batch_id_from_context``: dag id + data interval or run id + map index).
    :param workflow_id: Workflow to run on each image / video.
    :param job_id: explicit job id (<= 20 chars, ``[a-z0-9_-]``); derived when None.
    :param media_type: ``"images"`` or ``"videos"``.
    :param job_name: display name of the job.
    :param wait_for_completion: also wait until the job is terminal (deferred to the triggerer when
        ``deferrable``, polled every ``poll_interval`` seconds otherwise).
    :param timeout: how long to wait when ``wait_for_completion`` (the job itself keeps running unless
        ``abort_on_timeout``).
    :param abort_on_kill: abort the job when this task is killed (only a job this task created or
        re-attached to).
    :param on_changed_definition: ``"new_job"`` or ``"fail"``: what a re-run does when the interval's
        job (running, finished, failed or aborted) would give other results than asked for now.
    :param max_restarts: restarts of one failed or aborted job in this run, by this task and by the
        task that waits for the job together.
    :param job_wait_task_id: the task that waits for this job (``RoboflowJobSensor``), if any: the job
        history it last published (XCom ``job_history`` of the same map index, from an earlier try of
        the run) counts its restarts against ``max_restarts`` and joins this task's history.
    :return: ``{"job_id", "job_url", "batch_id", "workflow_id", "attempt", "job_history"}``
        (+ ``"output_batches"`` after a wait).
    """

    # Every job option is templated: the list comes from the job spec, as do the assignments below.
    template_fields: Sequence[str] = (
        "batch_id",
        "workflow_id",
        "job_id",
        "media_type",
        "job_name",
        *JOB_OPTION_FIELDS,
        "on_changed_definition",
    )
    template_fields_renderers = {"workflow_parameters": "json", "images_metadata_inputs_mapping": "json"}
    operator_extra_links = (RoboflowJobLink(),)
    ui_color = "#8b5cf6"

    def __init__(
        self,
        *,
        workflow_id: str,
        batch_id: str | None = None,
        job_id: str | None = None,
        media_type: str = "images",
        job_name: str | None = None,
        part_name: str | None = None,
        images_metadata_part: str | None = None,
        machine_type: str | None = None,
        workers_per_machine: int | None = None,
        processing_timeout_seconds: int | None = None,
        max_parallel_tasks: int | None = None,
        max_image_failure_rate: float | None = None,
        workflow_parameters: dict[str, Any] | None = None,
        image_input_name: str | None = None,
        persist_images_outputs: bool = False,
        images_outputs_to_be_persisted: list[str] | None = None,
        aggregation_format: str | None = None,
        max_video_fps: float | None = None,
        images_metadata_inputs_mapping: dict[str, str] | None = None,
        notifications_url: str | None = None,
        inference_backend: str | None = None,
        roboflow_conn_id: str = "roboflow_default",
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=True),
        poll_interval: float = 10,
        timeout: float | timedelta = DEFAULT_JOB_WAIT_TIMEOUT,
        abort_on_kill: bool = True,
        abort_on_timeout: bool = False,
        on_changed_definition: str = "new_job",
        max_restarts: int = DEFAULT_MAX_RESTARTS,
        job_wait_task_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        options = {name: value for name, value in locals().items() if name in JOB_OPTION_FIELDS}
        super().__init__(roboflow_conn_id=roboflow_conn_id, **kwargs)
        self.batch_id = batch_id
        self.workflow_id = workflow_id
        self.job_id = job_id
        self.media_type = media_type
        self.job_name = job_name
        for name, value in options.items():
            setattr(self, name, value)
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.wait = JobWait(poll_interval, timeout, abort_on_timeout, abort_on_kill)
        self.on_changed_definition = on_changed_definition
        self.max_restarts = max_restarts
        self.job_wait_task_id = job_wait_task_id
        # Set once this task created or re-attached to a job: only then may on_kill abort it.
        self._attached_job_id: str | None = None
        self._client: JobsClient | None = None
        self._history = JobHistory()

    # -- building blocks -------------------------------------------------------------------------

    def build_spec(self, batch_id: str) -> WorkflowJobSpec:
        """The validated job spec; bad options fail here, before any remote call, naming the field."""
        from pydantic import ValidationError

        try:
            return WorkflowJobSpec(
                media_type=self.media_type,
                batch_id=batch_id,
                workflow_id=self.workflow_id,
                **{name: getattr(self, name) for name in JOB_OPTION_FIELDS},
            )
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'job'}: {err['msg']}" for err in exc.errors()
            )
            raise AirflowFailException(
                f"Invalid Roboflow job options for task {self.task_id}: {problems}"
            ) from exc
        except ValueError as exc:
            raise AirflowFailException(
                f"Invalid Roboflow job options for task {self.task_id}: {exc}"
            ) from exc

    def resolve_batch_id(self, context: Context) -> str:
        if self.batch_id:
            return str(self.batch_id)
        from include.roboflow_batch.identity import batch_id_from_context

        try:
            return batch_id_from_context(context)
        except ValueError as exc:
            raise AirflowFailException(f"batch_id: {exc}") from exc

    def resolve_job_id(self, context: Context) -> str:
        """Explicit ``job_id``, else the id an earlier attempt stored, else the deterministic one.

        The derived id names the interval (dag, data interval or run id, task, map index), not what
        runs in it: a changed workflow or batch is a new attempt of the same interval (``jobs.recovery``)."""
        from include.roboflow_batch.api.ids import derive_job_id, validate_job_id

        store = context["task_state_store"]
        if self.job_id:
            try:
                return validate_job_id(self.job_id)
            except ValueError as exc:
                raise AirflowFailException(f"job_id: {exc}") from exc
        stored = store.get(JOB_ID_STATE_KEY)
        if isinstance(stored, str) and stored:
            self.log.info("Re-using job id %s stored by an earlier attempt of this task.", stored)
            return stored
        ti = context["ti"]
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        run_identity = f"{start.isoformat()}/{end.isoformat()}" if start and end else str(context["run_id"])
        map_index = getattr(ti, "map_index", -1)
        return derive_job_id(
            ti.dag_id,
            run_identity,
            ti.task_id,
            str(-1 if map_index is None else map_index),
        )

    def restart_overrides(self) -> RestartOverrides:
        """The restartable options this pipeline asks for now (sent with every restart)."""
        return RestartOverrides(**{name: getattr(self, name) for name in RestartOverrides.model_fields})

    def _published_by_the_wait(self, context: Context) -> JobHistory:
        """The history the job's wait published on an earlier try of this run (its restarts count here)."""
        if not self.job_wait_task_id:
            return JobHistory()
        ti = context["ti"]
        published = ti.xcom_pull(
            task_ids=self.job_wait_task_id, key=JOB_HISTORY_XCOM_KEY, map_indexes=ti.map_index
        )
        return JobHistory.read_stored(published)

    def _first_run_at(self, store: Any) -> datetime:
        """When this task first ran for the interval, recorded before its first remote call."""
        stored = store.get(FIRST_RUN_STATE_KEY)
        if isinstance(stored, str):
            try:
                return datetime.fromisoformat(stored)
            except ValueError:
                pass  # unreadable: this try is the earliest known
        now = datetime.now(UTC)
        store.set(FIRST_RUN_STATE_KEY, now.isoformat(), retention=NEVER_EXPIRE)
        return now

    def _recover_or_create(
        self, client: JobsClient, context: Context, base_job_id: str, body: dict[str, Any], workspace: str
    ) -> Decision:
        """Re-attach, restart or create as ``jobs.recovery.decide`` says; returns the decision.

        Counters and history go to the task state before the remote call, so a crash in between
        can cost one restart of the budget but never lifts the bound. A running job that a new
        attempt replaces is aborted (and seen terminal) before the new one is created.
        """
        from include.roboflow_batch.api.errors import ConflictError, CreditsExhaustedError, NotFoundError
        from include.roboflow_batch.jobs.attempts import (
            StillRunningError,
            abort_and_wait,
            abort_event,
            carry_out,
            fetch_attempts,
        )
        from include.roboflow_batch.jobs.recovery import Ownership, RecoveryRefused, decide

        store = context["task_state_store"]
        ledger = TaskLedger(store, self.task_id)
        first_run_at = self._first_run_at(store)
        attempts = fetch_attempts(client, base_job_id)
        known = ledger.history().merged(self._published_by_the_wait(context))
        latest = attempts[-1].job_id if attempts else base_job_id
        try:
            decision = decide(
                base_job_id,
                attempts,
                body,
                on_changed_definition=str(self.on_changed_definition),
                # This task's restarts (counted before each call) and the waiting task's.
                restarts_done=ledger.restarts_done(latest, known),
                max_restarts=self.max_restarts,
                ownership=Ownership(
                    batch_id=body["jobInput"]["batchId"],
                    known_jobs=known.acted_on(),
                    first_ran_at=first_run_at,
                ),
            )
        except RecoveryRefused as exc:
            raise AirflowFailException(str(exc)) from None
        store.set(JOB_ATTEMPT_STATE_KEY, decision.attempt, retention=NEVER_EXPIRE)
        if decision.action == "restart":
            ledger.count_restart(decision.job_id)
        if decision.aborts:
            known = known.with_event(abort_event(decision, attempts, by=self.task_id))
            ledger.save(known)
            try:
                abort_and_wait(client, decision.aborts, self.log, poll_interval=self.wait.poll_interval)
            except StillRunningError as exc:
                raise AirflowException(str(exc)) from None
        try:
            event = carry_out(
                client,
                decision,
                attempts,
                body,
                self.restart_overrides(),
                self.log,
                name=self.job_name,
                by=self.task_id,
            )
        except ConflictError as exc:
            raise AirflowFailException(
                f"Roboflow job {decision.job_id} exists with another definition ({exc}); it was created "
                "outside this pipeline. Give this pipeline another job_id."
            ) from exc
        except NotFoundError as exc:
            batch_id = body["jobInput"]["batchId"]
            raise AirflowFailException(
                f"Roboflow job {decision.job_id} cannot run: its input batch {batch_id!r} does not exist "
                f"({exc}). It was not staged, or it expired (Roboflow keeps staged data 7 days). "
                f"{RERUN_ADVICE}"
            ) from exc
        except CreditsExhaustedError as exc:
            # Not retried: Airflow's retries would only wait, for hours, for a top-up that a person makes.
            verb = "restarted" if decision.action == "restart" else "started"
            raise AirflowFailException(
                f"Roboflow job {decision.job_id} was not {verb} ({exc}). "
                f"{credits_advice(self.roboflow_conn_id, workspace)}: it re-attaches to the job if "
                "Roboflow created it after all, otherwise it starts exactly one."
            ) from exc
        self._history = known.with_event(event)
        ledger.save(self._history)
        return decision

    # -- execution -------------------------------------------------------------------------------

    def step_lineage(self, result: Mapping[str, Any]) -> Any:
        """The batch the job reads and the job itself (a new attempt has an id of its own)."""
        return lineage.operator_lineage(
            run_facets=lineage.roboflow_run_facets(
                batch_id=result.get("batch_id") or self.batch_id,
                job_id=result.get("job_id") or self.job_id,
                job_url=result.get("job_url"),
                counts={"attempt": result.get("attempt")},
                spend={"ceiling_seconds": result.get("ceiling_seconds")},
            )
        )

    def execute(self, context: Context) -> dict[str, Any]:
        if self.on_changed_definition not in ON_CHANGED_DEFINITION_CHOICES:
            raise AirflowFailException(
                f"on_changed_definition must be one of {list(ON_CHANGED_DEFINITION_CHOICES)}, "
                f"got {self.on_changed_definition!r}"
            )
        batch_id = self.resolve_batch_id(context)
        spec = self.build_spec(batch_id)
        job_id = self.resolve_job_id(context)
        # Persist before any remote call: a crash from here on re-attaches to this id.
        context["task_state_store"].set(JOB_ID_STATE_KEY, job_id, retention=NEVER_EXPIRE)
        with roboflow_errors(f"start of Roboflow job {job_id}", self.roboflow_conn_id):
            return self._start(context, spec, batch_id, job_id)

    def _start(
        self, context: Context, spec: WorkflowJobSpec, batch_id: str, base_job_id: str
    ) -> dict[str, Any]:
        hook = self._hook()
        client = self._client = hook.get_client()
        body = spec.to_body(hook.workspace)
        decision = self._recover_or_create(client, context, base_job_id, body, hook.workspace)
        job_id = decision.job_id
        self._attached_job_id = job_id

        job_url = hook.job_url(job_id)
        ti = context["ti"]
        ti.xcom_push(key=JOB_ID_XCOM_KEY, value=job_id)
        ti.xcom_push(key=JOB_URL_XCOM_KEY, value=job_url)
        history = self._history.entries()
        ti.xcom_push(key=JOB_HISTORY_XCOM_KEY, value=history)
        self.log.info("Roboflow job page: %s", job_url)
        summary = {
            "job_id": job_id,
            "job_url": job_url,
            "batch_id": batch_id,
            "workflow_id": self.workflow_id,
            "attempt": decision.attempt,
            "job_history": history,
            # The machine-time ceiling the job was created or restarted with (None: none).
            "ceiling_seconds": spec.processing_timeout_seconds,
        }
        if not self.wait_for_completion:
            return summary

        watcher = JobWatcher(client, job_id, self.log, self.roboflow_conn_id)
        if self.deferrable:
            event = watcher.poll()
            if event is not None:
                return self.execute_complete(context, event, summary=summary)
            self.defer(
                trigger=self.wait.trigger(job_id, self.roboflow_conn_id),
                method_name="execute_complete",
                kwargs={"summary": summary},
                timeout=self.wait.deferral_timeout,
            )
        return self.execute_complete(context, self._poll_until_done(watcher), summary=summary)

    def _poll_until_done(self, watcher: JobWatcher) -> dict[str, Any]:
        wait = self.wait
        started = time.monotonic()
        while True:
            event = watcher.poll()
            if event is not None:
                return event
            waited = time.monotonic() - started
            if waited >= wait.timeout_seconds:
                aborted = wait.abort_on_timeout and abort_job_quietly(
                    watcher.client, watcher.job_id, self.log
                )
                return timeout_event(watcher.job_id, waited, aborted)
            time.sleep(min(wait.poll_interval, max(wait.timeout_seconds - waited, 0.0)))

    def execute_complete(
        self, context: Context, event: dict[str, Any] | None = None, summary: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        # A timeout is retryable: the next attempt re-attaches to the same job and waits again.
        result = result_of_event(event, timeout_exception=AirflowException)
        self.log.info(
            "Roboflow job %s succeeded; output batches: %s", result["job_id"], result["output_batches"]
        )
        return {**(summary or {"job_id": result["job_id"]}), "output_batches": result["output_batches"]}

    def on_kill(self) -> None:
        if self.wait.abort_on_kill and self._attached_job_id and self._client is not None:
            abort_job_quietly(self._client, self._attached_job_id, self.log)
