"""What to do with the jobs already started for an interval: pure judgement, no I/O, no Airflow.

A job that failed or was aborted is restarted the Roboflow way (``POST /jobs/{id}/restart``) with the
options the pipeline asks for now, a bounded number of times. Only a change a restart cannot carry
(the workflow, its parameters, the input batch, ...) starts a new job, under the next attempt's id.
A running job is re-attached, whatever it runs: there is never more than one live job per interval.
A job that succeeded is re-attached too: its results are the interval's results, unless Roboflow no
longer has them (staged data and results expire after 7 days): then the data staged again is
processed by the next attempt's job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from include.roboflow_batch.api.ids import JOB_ID_MAX_LENGTH, validate_job_id

ON_CHANGED_DEFINITION_CHOICES: tuple[str, ...] = ("new_job", "fail")
DEFAULT_MAX_RESTARTS = 2
#: A changed definition starts at most this many jobs per interval (attempt 1 included).
MAX_ATTEMPTS = 9
SUCCEEDED_REASON = "the job already succeeded"

# Top-level job fields (and everything below them) that a restart override can change (B7).
RESTARTABLE_FIELDS = frozenset(
    {"computeConfiguration", "processingTimeoutSeconds", "maxParallelTasks", "maxImageFailureRate"}
)


def definition_differences(existing: Any, wanted: Any, path: str = "") -> list[str]:
    """Paths where the server's job definition differs from the one we would send.

    The server may add defaults, so only keys we send are compared.
    """
    if isinstance(wanted, Mapping):
        if not isinstance(existing, Mapping):
            return [path or "<root>"]
        diffs: list[str] = []
        for key, value in wanted.items():
            diffs += definition_differences(existing.get(key), value, f"{path}.{key}" if path else key)
        return diffs
    return [] if existing == wanted else [path or "<root>"]


def needs_new_job(differences: Sequence[str]) -> list[str]:
    """The differences a restart cannot carry."""
    return [diff for diff in differences if diff.split(".", 1)[0] not in RESTARTABLE_FIELDS]


def attempt_job_id(base_job_id: str, attempt: int) -> str:
    """The job id of ``attempt`` (1-based): the base id first, then ``<base>-a<N>`` cut to fit 20 chars."""
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1, got {attempt}")
    if attempt == 1:
        return validate_job_id(base_job_id)
    suffix = f"-a{attempt}"
    return validate_job_id(base_job_id[: JOB_ID_MAX_LENGTH - len(suffix)].rstrip("-_") + suffix)


@dataclass(frozen=True)
class ExistingJob:
    """What the server says about one existing attempt's job."""

    job_id: str
    attempt: int
    definition: Mapping[str, Any]
    is_terminal: bool
    error: bool
    # A succeeded job whose output batches Roboflow no longer has (they expire after 7 days).
    results_expired: bool = False

    @property
    def live(self) -> bool:
        return not self.is_terminal

    @property
    def succeeded(self) -> bool:
        return self.is_terminal and not self.error


@dataclass(frozen=True)
class Decision:
    """``action`` is one of ``create``, ``reattach``, ``restart``; ``job_id``/``attempt`` say which job."""

    action: Literal["create", "reattach", "restart"]
    job_id: str
    attempt: int
    reason: str
    differences: list[str] = field(default_factory=list)


class RecoveryRefused(Exception):
    """The interval's job cannot be recovered within the rules; the message says why and what to do."""


def decide(
    base_job_id: str,
    attempts: Sequence[ExistingJob],
    wanted: Mapping[str, Any],
    *,
    on_changed_definition: str = "new_job",
    restarts_done: int = 0,
    max_restarts: int = DEFAULT_MAX_RESTARTS,
) -> Decision:
    """The next step for an interval whose attempts ``1..len(attempts)`` exist (in order).

    ``restarts_done`` counts the restarts of the latest attempt already made by this pipeline.
    """
    if on_changed_definition not in ON_CHANGED_DEFINITION_CHOICES:
        raise RecoveryRefused(
            f"on_changed_definition must be one of {list(ON_CHANGED_DEFINITION_CHOICES)}, "
            f"got {on_changed_definition!r}"
        )
    if not attempts:
        return Decision("create", attempt_job_id(base_job_id, 1), 1, "no job exists for this interval yet")
    live = [job for job in attempts if job.live]
    if live:
        job = live[-1]
        diffs = definition_differences(job.definition, wanted)
        return Decision("reattach", job.job_id, job.attempt, "the job is still running", diffs)
    latest = attempts[-1]
    diffs = definition_differences(latest.definition, wanted)
    if latest.succeeded and latest.results_expired:
        return _next_attempt(
            base_job_id,
            latest,
            f"the results of job {latest.job_id} expired (Roboflow keeps them 7 days): the data staged "
            "again is processed by a new job",
            diffs,
        )
    if latest.succeeded:
        return Decision("reattach", latest.job_id, latest.attempt, SUCCEEDED_REASON, diffs)
    state = "failed or was aborted"
    hard = needs_new_job(diffs)
    if hard:
        if on_changed_definition == "fail":
            raise RecoveryRefused(
                f"Roboflow job {latest.job_id} {state}, and the pipeline now asks for a job a restart "
                f"cannot give (changed: {', '.join(hard)}). on_changed_definition is 'fail': set it to "
                "'new_job' (astro.yaml job.on_changed_definition, or the run param of the same name) to "
                "start a new job for this interval."
            )
        reason = f"job {latest.job_id} {state} and its definition changed ({', '.join(hard)})"
        return _next_attempt(base_job_id, latest, reason, diffs)
    if restarts_done >= max_restarts:
        raise RecoveryRefused(
            f"Roboflow job {latest.job_id} {state} again after {restarts_done} restart(s), the most "
            f"allowed (job.max_restarts = {max_restarts}). See the job's logs for the reason; raise "
            "job.max_restarts or change the job to try again."
        )
    return Decision("restart", latest.job_id, latest.attempt, f"job {latest.job_id} {state}", diffs)


def _next_attempt(base_job_id: str, latest: ExistingJob, reason: str, diffs: list[str]) -> Decision:
    attempt = latest.attempt + 1
    if attempt > MAX_ATTEMPTS:
        raise RecoveryRefused(
            f"{reason[0].upper()}{reason[1:]}, but this interval already had {latest.attempt} jobs (the "
            "most allowed): not starting another."
        )
    return Decision("create", attempt_job_id(base_job_id, attempt), attempt, reason, diffs)
