"""What the job sensor does about a job it finds failed or aborted when a new try begins.

A try of the wait that sees the job fail reports the server's reason and fails. A later try (Airflow's
retry, or the user's "Clear" of the wait) that finds the job still failed or aborted restarts it
(``POST /jobs/{id}/restart``, with the overrides the pipeline asks for now) and waits again, within
the run's ``max_restarts`` budget shared with the start-job task (see ``jobs.ledger``). A restart
never creates a job: an interval keeps at most one live job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import NEVER_EXPIRE  # type: ignore[attr-defined]  # missing from the sdk's stub
from airflow.sdk.exceptions import AirflowFailException

from include.roboflow_batch.api.jobs import RestartOverrides
from include.roboflow_batch.jobs.attempts import carry_out
from include.roboflow_batch.jobs.clients import JobsClient
from include.roboflow_batch.jobs.ledger import JOB_HISTORY_XCOM_KEY, JobHistory
from include.roboflow_batch.jobs.ledger_store import TaskLedger
from include.roboflow_batch.jobs.recovery import Decision
from include.roboflow_batch.logs import TaskLog

if TYPE_CHECKING:
    from airflow.sdk import Context

#: The try (task instance id) whose start was already checked; reschedule mode re-enters each poke.
CHECKED_TRY_STATE_KEY = "roboflow_job_checked_try"


class JobWaitRecovery:
    """The wait's view of the interval's job history and restart budget, for one try of the task."""

    def __init__(
        self,
        context: Context,
        *,
        published_history: JobHistory,
        max_restarts: int,
        restart_options: Mapping[str, Any] | None,
    ) -> None:
        self.store: Any = context["task_state_store"]
        self.ti: Any = context["ti"]
        self.ledger = TaskLedger(self.store, str(self.ti.task_id))
        self.published = published_history
        self.max_restarts = max_restarts
        self.restart_options = dict(restart_options or {})

    def history(self) -> JobHistory:
        """The start task's published history and this task's own events, oldest first."""
        return self.published.merged(self.ledger.history())

    def publish(self) -> None:
        """Push the history to XCom, where a re-run of the start task reads it (XComs go on each try)."""
        self.ti.xcom_push(key=JOB_HISTORY_XCOM_KEY, value=self.history().entries())

    def starts_try(self) -> bool:
        """True the first time a try reaches this check (a retry or a clear is a new try)."""
        marker = f"{getattr(self.ti, 'id', None)}/{getattr(self.ti, 'try_number', None)}"
        if self.store.get(CHECKED_TRY_STATE_KEY) == marker:
            return False
        self.store.set(CHECKED_TRY_STATE_KEY, marker, retention=NEVER_EXPIRE)
        return True

    def may_restart(self) -> bool:
        """Only a later try restarts: the first try of the wait reports the failure it sees."""
        return int(getattr(self.ti, "try_number", 1) or 1) > 1

    def restart(self, client: JobsClient, job_id: str, failure: str, log: TaskLog) -> None:
        """Restart the failed job within the budget, or fail naming the budget and the job's reason.

        The counter is written before the call: a crash in between can cost one restart of the
        budget but never lifts the bound.
        """
        done = self.ledger.restarts_done(job_id, self.published)
        if done >= self.max_restarts:
            raise AirflowFailException(
                f"Roboflow job {job_id} failed or was aborted, and it was restarted {done} time(s) in "
                f"this run, the most allowed (job.max_restarts = {self.max_restarts}): not restarting "
                f"it again. Raise job.max_restarts or change the job to try again. The job: {failure}"
            )
        try:
            overrides = RestartOverrides(**self.restart_options)
        except ValueError as exc:
            raise AirflowFailException(f"restart_options: {exc}") from exc
        self.ledger.count_restart(job_id)
        decision = Decision(
            "restart",
            job_id,
            self.history().attempt_of(job_id),
            f"job {job_id} failed or was aborted; this wait was retried or cleared",
        )
        event = carry_out(client, decision, (), {}, overrides, log, by=self.ledger.task_id)
        self.ledger.save(self.ledger.history().with_event(event))
        self.publish()
