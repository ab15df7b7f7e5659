"""Look up every job already started for an interval, and carry out a recovery decision.

Synchronous and Airflow-free: the start-job operator wraps these calls in its error handling.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from include.roboflow_batch.api.errors import (
    BadRequestError,
    ConflictError,
    CreditsExhaustedError,
    NotFoundError,
)
from include.roboflow_batch.api.jobs import RestartOverrides
from include.roboflow_batch.jobs.clients import JobsClient
from include.roboflow_batch.jobs.ledger import JobEvent, SeenJob
from include.roboflow_batch.jobs.recovery import MAX_ATTEMPTS, Decision, ExistingJob, attempt_job_id
from include.roboflow_batch.logs import TaskLog


def results_expired(client: JobsClient, job_id: str) -> bool:
    """Whether Roboflow has lost any output batch of the finished job ``job_id`` (it keeps them 7 days)."""
    for stage in client.list_job_stages(job_id):
        for batch_id in stage.output_batches or []:
            try:
                client.get_batch(batch_id)
            except NotFoundError:
                return True
    return False


def fetch_attempts(client: JobsClient, base_job_id: str) -> list[ExistingJob]:
    """The interval's jobs, attempt 1 upwards, up to the first attempt id the server does not know.

    The latest one, when it succeeded, is checked for expired results (two more reads per stage).
    """
    found: list[ExistingJob] = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        job_id = attempt_job_id(base_job_id, attempt)
        try:
            job = client.get_job(job_id)
        except NotFoundError:
            break
        found.append(
            ExistingJob(
                job_id=job_id,
                attempt=attempt,
                definition=job.job_definition,
                is_terminal=job.is_terminal,
                error=job.error,
                created_at=job.created_at,
            )
        )
    if found and found[-1].succeeded and results_expired(client, found[-1].job_id):
        found[-1] = replace(found[-1], results_expired=True)
    return found


def _exists(client: JobsClient, job_id: str) -> bool:
    try:
        client.get_job(job_id)
    except NotFoundError:
        return False
    return True


#: How long the start step waits for an aborted job to show terminal before its task is retried.
ABORT_WAIT_SECONDS = 900.0


class StillRunningError(Exception):
    """The job asked to abort has not shown terminal in time; the message names it."""


def history_event(
    decision: Decision,
    attempts: Sequence[ExistingJob] = (),
    overrides: dict[str, Any] | None = None,
    by: str | None = None,
) -> JobEvent:
    """The ledger's event for a decision carried out; ``attempts`` are the interval's jobs as the server
    showed them before it, ``by`` the task that acted."""
    return JobEvent(
        action=decision.action,
        job_id=decision.job_id,
        attempt=decision.attempt,
        reason=decision.reason,
        seen=tuple(SeenJob(job_id=job.job_id, attempt=job.attempt, state=job.state) for job in attempts),
        changed=tuple(decision.differences),
        overrides=overrides or None,
        by=by or None,
    )


def carry_out(
    client: JobsClient,
    decision: Decision,
    attempts: Sequence[ExistingJob],
    body: dict[str, Any],
    overrides: RestartOverrides,
    log: TaskLog,
    name: str | None = None,
    by: str | None = None,
) -> JobEvent:
    """Create, restart or re-attach as decided; returns the ledger's event of what was done.

    A 409 on restart means the job is running again (another worker restarted it first): re-attach.
    A 409 on create means the id exists with another definition, which the caller reports.
    Exhausted credits on create are raised unless the job exists after all: the service checks
    credits before it checks for a duplicate id, so a creation whose answer was lost (and that the
    client repeated) comes back as a credits error although its job runs; that job is re-attached.
    """
    if decision.action == "create":
        try:
            client.create_job(decision.job_id, body, name=name)
        except CreditsExhaustedError as exc:
            if not _exists(client, decision.job_id):
                raise
            log.info(
                "Roboflow answered %s, but job %s exists (an earlier request created it): re-attaching.",
                exc.message,
                decision.job_id,
            )
            reason = "created by an earlier request whose answer was lost"
            return history_event(Decision("reattach", decision.job_id, decision.attempt, reason), by=by)
        log.info(
            "Started Roboflow job %s (attempt %d): %s.", decision.job_id, decision.attempt, decision.reason
        )
        return history_event(decision, attempts, by=by)
    if decision.action == "restart":
        restart_body = overrides.to_body()
        try:
            client.restart_job(decision.job_id, overrides)
        except ConflictError as exc:
            log.info("Roboflow job %s is running again (%s): re-attaching.", decision.job_id, exc.message)
            return history_event(
                Decision("reattach", decision.job_id, decision.attempt, "restarted elsewhere"), by=by
            )
        log.info(
            "Restarted Roboflow job %s (%s) with overrides %s.",
            decision.job_id,
            decision.reason,
            restart_body,
        )
        return history_event(decision, attempts, restart_body, by=by)
    if decision.differences:
        log.warning(
            "Re-attaching to Roboflow job %s (%s) although its definition differs in %s: a job's definition "
            "cannot change while it runs or after it succeeded.",
            decision.job_id,
            decision.reason,
            ", ".join(decision.differences),
        )
    else:
        log.info(
            "Roboflow job %s exists (%s): re-attaching instead of starting a new one.",
            decision.job_id,
            decision.reason,
        )
    return history_event(decision, attempts, by=by)


def abort_event(decision: Decision, attempts: Sequence[ExistingJob], by: str | None = None) -> JobEvent:
    """The ledger's event for aborting the interval's running job that ``decision``'s attempt replaces."""
    aborted = next(job for job in attempts if job.job_id == decision.aborts)
    return JobEvent(
        action="abort",
        job_id=aborted.job_id,
        attempt=aborted.attempt,
        reason=f"replaced by attempt {decision.attempt} ({decision.job_id}): {decision.reason}",
        seen=tuple(SeenJob(job_id=job.job_id, attempt=job.attempt, state=job.state) for job in attempts),
        changed=tuple(decision.differences),
        by=by or None,
    )


def abort_and_wait(
    client: JobsClient,
    job_id: str,
    log: TaskLog,
    *,
    poll_interval: float,
    timeout: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Abort ``job_id`` and return once the server shows it terminal.

    Roboflow refuses to abort a job past its processing stage (or already finished): that job is
    waited for instead, so that the next attempt never runs beside it. Other errors are raised.
    """
    try:
        client.abort_job(job_id)
        log.info("Aborted Roboflow job %s: a new attempt replaces it.", job_id)
    except (BadRequestError, ConflictError) as exc:
        log.info("Roboflow did not abort job %s (%s): waiting for it to finish.", job_id, exc.message)
    timeout = ABORT_WAIT_SECONDS if timeout is None else timeout
    deadline = clock() + timeout
    while not client.get_job(job_id).is_terminal:
        if clock() >= deadline:
            raise StillRunningError(
                f"Roboflow job {job_id} was asked to stop, but it still runs after {timeout:.0f} s; the "
                "next attempt starts only once it has stopped (a retry of this task checks again)."
            )
        time.sleep(poll_interval)
