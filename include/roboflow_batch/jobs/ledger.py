"""An interval's job history: one typed ledger shared by the task that starts the job and the task that
waits for it.

Each task keeps its own events in its task state (``jobs.ledger_store``, which survives retries and
clears) and publishes the history it knows in XCom ``job_history``; each reads what the other
published. Events carry the task that acted (``by``), so a restart is counted once, by whichever task
made it, against one ``max_restarts`` budget per job. The serialised form (XCom, task state, the
manifest's ``job_history``) is a JSON list of event objects, the same that earlier versions wrote.
Pure: no I/O, no Airflow.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

#: XCom key of the interval's job history (the export writes it into the manifest).
JOB_HISTORY_XCOM_KEY = "job_history"

#: ``abort`` is the interval's running job aborted before the next attempt replaces it.
Action = Literal["create", "reattach", "restart", "abort"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SeenJob(_Record):
    """One job of the interval as the server showed it before a decision."""

    job_id: str
    attempt: int
    state: str


class JobEvent(_Record):
    """One line of the history: what a task did to which job, and why.

    ``seen`` lists every job of the interval before the decision, so each event records all attempts,
    even those of runs whose task state is gone. ``by`` names the task that acted.
    """

    at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    action: Action
    job_id: str
    attempt: int
    reason: str = ""
    seen: tuple[SeenJob, ...] = ()
    changed: tuple[str, ...] = ()
    overrides: dict[str, Any] | None = None
    by: str | None = None

    def to_entry(self) -> dict[str, Any]:
        """The JSON form: optional keys only when they say something (as earlier versions wrote it)."""
        entry = self.model_dump(mode="json", exclude={"changed", "overrides", "by"})
        if self.changed:
            entry["changed"] = list(self.changed)
        if self.overrides:
            entry["overrides"] = dict(self.overrides)
        if self.by:
            entry["by"] = self.by
        return entry


_EVENTS = TypeAdapter(tuple[JobEvent, ...])


class JobHistoryError(ValueError):
    """A serialised history that is not a list of job events; the message says what is wrong."""


class JobHistory(BaseModel):
    """Every event of an interval's jobs, oldest first."""

    model_config = ConfigDict(frozen=True)

    events: tuple[JobEvent, ...] = ()

    @classmethod
    def from_entries(cls, value: object) -> JobHistory:
        """A history from its serialised form (None: nothing published yet); ``JobHistoryError`` names
        the first entry that is not a job event."""
        if isinstance(value, JobHistory):
            return value
        if value is None:
            return cls()
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            raise JobHistoryError(f"a job history is a list of events, got {type(value).__name__}")
        try:
            return cls(events=_EVENTS.validate_python(list(value)))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise JobHistoryError(f"job history entry {where}: {first['msg']}") from None

    @classmethod
    def read_stored(cls, value: object) -> JobHistory:
        """A history kept in task state or published in XCom; a damaged one cannot be trusted to count
        anything, so it reads as empty."""
        try:
            return cls.from_entries(value)
        except JobHistoryError:
            return cls()

    def entries(self) -> list[dict[str, Any]]:
        return [event.to_entry() for event in self.events]

    def merged(self, *others: JobHistory) -> JobHistory:
        """Every distinct event of this history and ``others``, oldest first (events are stamped to the
        second; equal stamps keep the order they were given in)."""
        merged: dict[str, JobEvent] = {}
        for history in (self, *others):
            for event in history.events:
                merged.setdefault(json.dumps(event.to_entry(), sort_keys=True), event)
        return JobHistory(events=tuple(sorted(merged.values(), key=lambda event: event.at)))

    def with_event(self, event: JobEvent) -> JobHistory:
        return JobHistory(events=(*self.events, event))

    def restarts_by_others(self, job_id: str, task_id: str) -> int:
        """Restarts of ``job_id`` recorded by tasks other than ``task_id``; each task counts its own
        restarts in its own state, before each call, so an event that names no task is not counted here."""
        return sum(
            1
            for event in self.events
            if event.action == "restart" and event.job_id == job_id and event.by not in (None, task_id)
        )

    def attempt_of(self, job_id: str) -> int:
        """The attempt number the history gives ``job_id`` (1 when it does not mention it)."""
        known = [event.attempt for event in self.events if event.job_id == job_id and event.attempt >= 1]
        return known[-1] if known else 1

    def acted_on(self) -> frozenset[str]:
        """The jobs a task of the interval created, restarted, re-attached to or aborted."""
        return frozenset(event.job_id for event in self.events)

    def job_ids(self) -> set[str]:
        """Every job the history names: those acted on and those seen (the interval's attempts)."""
        return {event.job_id for event in self.events} | {
            job.job_id for event in self.events for job in event.seen
        }
