"""What to do with the jobs already started for an interval: pure judgement, no I/O, no Airflow.

A job's definition has two kinds of fields (``docs/astro-yaml.md``, "Re-runs"):

- fields that shape the results (``RESULT_FIELDS``: the workflow, its parameters, the input batch,
  the image inputs, the output format, ...). A job whose results would differ from what the pipeline
  asks for now is never re-attached, running or finished: ``on_changed_definition`` decides between
  the interval's next attempt ``<id>-a<N>`` (a running job is aborted first, so an interval never has
  two live jobs) and a failure naming the change;
- options that only change how the job runs (machine type, workers, parallelism, time-out, failure
  tolerance, webhook URL). A running or succeeded job is re-attached whatever they say; a failed or
  aborted one is restarted the Roboflow way (``POST /jobs/{id}/restart``) with the options the
  pipeline asks for now, a bounded number of times.

Only a job of the interval's own (``Ownership``) is ever aborted or replaced by a new attempt; a job
that happens to hold the interval's id with another definition is left alone and the step fails.

A succeeded job whose results Roboflow no longer has (staged data and results expire after 7 days)
is not re-attached: the data staged again is processed by the interval's next attempt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from include.roboflow_batch.api.ids import JOB_ID_MAX_LENGTH, batch_stagings, validate_job_id

ON_CHANGED_DEFINITION_CHOICES: tuple[str, ...] = ("new_job", "fail")
DEFAULT_MAX_RESTARTS = 2
#: A changed definition starts at most this many jobs per interval (attempt 1 included).
MAX_ATTEMPTS = 9
SUCCEEDED_REASON = "the job already succeeded"

# Top-level job fields (and everything below them) that a restart override can change (B7).
RESTARTABLE_FIELDS = frozenset(
    {"computeConfiguration", "processingTimeoutSeconds", "maxParallelTasks", "maxImageFailureRate"}
)
# Top-level job fields whose value shapes the results: the job type (images or videos), the input
# (batch, part, metadata part), everything the workflow is run with, and the inference engine.
RESULT_FIELDS = frozenset({"type", "jobInput", "processingSpecification", "inferenceBackend"})
# Result fields the pipeline leaves out when they are empty: an existing job that has them while
# the pipeline no longer sends them was run with something the pipeline does not ask for any more.
_DROPPABLE_RESULT_FIELDS = (
    ("processingSpecification", "workflowParameters"),
    ("processingSpecification", "imagesMetadataInputsMapping"),
)
# A job created up to this long before the step first ran (clocks of two machines) still counts as
# created by it.
CLOCK_SKEW = timedelta(seconds=5)
_SHOWN_VALUE_LENGTH = 80


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


def _at(document: Any, path: Sequence[str]) -> Any:
    for key in path:
        document = document.get(key) if isinstance(document, Mapping) else None
    return document


@dataclass(frozen=True)
class Change:
    """One result field whose value the pipeline changed: where, and from what to what."""

    path: str
    old: Any
    new: Any

    def describe(self) -> str:
        return f"{self.path}: {_shown(self.old)} -> {_shown(self.new)}"


def _shown(value: Any) -> str:
    text = "(not set)" if value is None else repr(value)
    return text if len(text) <= _SHOWN_VALUE_LENGTH else text[: _SHOWN_VALUE_LENGTH - 3] + "..."


def result_changes(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[Change]:
    """The changes between a job's definition and the one wanted that would change its results."""
    paths = [
        diff
        for diff in definition_differences(existing, wanted)
        if diff.split(".", 1)[0] in RESULT_FIELDS or diff == "<root>"
    ]
    for path in _DROPPABLE_RESULT_FIELDS:
        if _at(existing, path) not in (None, {}) and _at(wanted, path) is None:
            paths.append(".".join(path))
    return [Change(path, _at(existing, path.split(".")), _at(wanted, path.split("."))) for path in paths]


def describe_changes(changes: Sequence[Change]) -> str:
    return "; ".join(change.describe() for change in changes)


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
    created_at: datetime | None = None

    @property
    def live(self) -> bool:
        return not self.is_terminal

    @property
    def succeeded(self) -> bool:
        return self.is_terminal and not self.error

    @property
    def state(self) -> str:
        if self.live:
            return "running"
        if self.succeeded:
            return "succeeded, results expired" if self.results_expired else "succeeded"
        return "failed or aborted"

    @property
    def batch_id(self) -> Any:
        return _at(self.definition, ("jobInput", "batchId"))


@dataclass(frozen=True)
class Ownership:
    """What shows that an existing job is the interval's own, so that it may be aborted or replaced.

    A job is the interval's own when its input is the interval's staging batch (``batch_id``: ids are
    derived from the pipeline and the window) or a staging of it (the data staged again under
    ``staged_batch_id`` after the batch expired, either way round), when the interval's job history
    acted on it (``known_jobs``), or when it was created after this step first ran for the interval
    (``first_ran_at``: a creation whose answer was lost before the history was saved). A job that
    existed before, on another batch, belongs to someone else.
    """

    batch_id: str | None = None
    known_jobs: frozenset[str] = frozenset()
    first_ran_at: datetime | None = None

    def owns(self, job: ExistingJob) -> bool:
        if job.job_id in self.known_jobs:
            return True
        if (
            self.batch_id is not None
            and isinstance(job.batch_id, str)
            and _same_staging_family(job.batch_id, self.batch_id)
        ):
            return True
        return (
            self.first_ran_at is not None
            and job.created_at is not None
            and job.created_at >= self.first_ran_at - CLOCK_SKEW
        )


def _same_staging_family(batch_id: str, other: str) -> bool:
    """One is the other, or a later staging of it (``api.ids.batch_stagings``)."""
    try:
        return other in batch_stagings(batch_id) or batch_id in batch_stagings(other)
    except ValueError:  # not a valid batch id: no staging derives from it
        return batch_id == other


@dataclass(frozen=True)
class Decision:
    """``action`` is one of ``create``, ``reattach``, ``restart``; ``job_id``/``attempt`` say which job.

    ``aborts`` names the interval's running job that must be aborted (and seen terminal) before the
    new attempt is created.
    """

    action: Literal["create", "reattach", "restart"]
    job_id: str
    attempt: int
    reason: str
    differences: list[str] = field(default_factory=list)
    aborts: str | None = None


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
    ownership: Ownership | None = None,
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
    current = live[-1] if live else attempts[-1]
    diffs = definition_differences(current.definition, wanted)
    changes = result_changes(current.definition, wanted)
    owner = ownership or Ownership()
    owned = not diffs or owner.owns(current)
    if current.succeeded and current.results_expired and owned:
        # Nothing to re-attach to: the data staged again (a new batch id, when the service keeps the
        # expired one's) is processed by the interval's next attempt, whatever else changed.
        reason = (
            f"the results of job {current.job_id} expired (Roboflow keeps them 7 days): the data staged "
            "again is processed by a new job"
        )
        return _attempt_after(base_job_id, attempts, reason, diffs)
    if changes:
        return _next_attempt(
            base_job_id,
            attempts,
            current,
            changes,
            diffs,
            on_changed_definition,
            owner,
        )
    # An identical definition is the same job (creating it again is a no-op); any other is only
    # adopted when it is the interval's own.
    if not owned:
        raise RecoveryRefused(_not_the_intervals(current, diffs))
    if current.live:
        return Decision("reattach", current.job_id, current.attempt, "the job is still running", diffs)
    if current.succeeded:
        return Decision("reattach", current.job_id, current.attempt, SUCCEEDED_REASON, diffs)
    state = "failed or was aborted"
    if restarts_done >= max_restarts:
        raise RecoveryRefused(
            f"Roboflow job {current.job_id} {state} again after {restarts_done} restart(s), the most "
            f"allowed (job.max_restarts = {max_restarts}). See the job's logs for the reason; raise "
            "job.max_restarts or change the job to try again."
        )
    return Decision("restart", current.job_id, current.attempt, f"job {current.job_id} {state}", diffs)


def _not_the_intervals(job: ExistingJob, differences: Sequence[str]) -> str:
    return (
        f"Roboflow job {job.job_id} ({job.state}) exists with another definition (differs in "
        f"{', '.join(differences)}; input batch {job.batch_id!r}), and nothing shows it is this "
        "interval's job: it existed before this step first ran and this interval's history never "
        "used it. It is left alone (not aborted, restarted or re-attached). Give this pipeline "
        "another job_id, or remove that job from the workspace."
    )


def _next_attempt(
    base_job_id: str,
    attempts: Sequence[ExistingJob],
    current: ExistingJob,
    changes: Sequence[Change],
    diffs: list[str],
    on_changed_definition: str,
    ownership: Ownership,
) -> Decision:
    """A new attempt for a definition whose results differ from ``current``'s, or the refusal."""
    changed = describe_changes(changes)
    if not ownership.owns(current):
        raise RecoveryRefused(_not_the_intervals(current, [change.path for change in changes]))
    if on_changed_definition == "fail":
        raise RecoveryRefused(
            f"Roboflow job {current.job_id} ({current.state}) gives results for another definition than "
            f"the pipeline asks for now ({changed}). on_changed_definition is 'fail': set it to "
            "'new_job' (astro.yaml job.on_changed_definition, or the run param of the same name) to "
            "start the interval's next attempt"
            + (", which aborts the running job first." if current.live else ".")
        )
    return _attempt_after(
        base_job_id,
        attempts,
        f"job {current.job_id} ({current.state}) gives results for another definition: {changed}",
        diffs,
        aborts=current.job_id if current.live else None,
    )


def _attempt_after(
    base_job_id: str,
    attempts: Sequence[ExistingJob],
    reason: str,
    diffs: list[str],
    aborts: str | None = None,
) -> Decision:
    """The interval's next attempt, or the refusal once it had the most attempts allowed."""
    attempt = max(job.attempt for job in attempts) + 1
    if attempt > MAX_ATTEMPTS:
        raise RecoveryRefused(
            f"{reason[0].upper()}{reason[1:]}, but this interval already had {attempt - 1} jobs (the "
            "most allowed): not starting another."
        )
    return Decision("create", attempt_job_id(base_job_id, attempt), attempt, reason, diffs, aborts=aborts)
