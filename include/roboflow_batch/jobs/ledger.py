"""An interval's job history, shared by the task that starts the job and the task that waits for it.

Each task keeps its own events in its task state (which survives retries and clears) and publishes
the history it knows in XCom ``job_history``; each reads what the other published. Events carry the
task that acted (``by``), so a restart is counted once, by whichever task made it, against one
``max_restarts`` budget per job. Pure: no I/O, no Airflow.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

#: XCom key of the interval's job history (the export writes it into the manifest).
JOB_HISTORY_XCOM_KEY = "job_history"


def history_entries(value: object) -> list[dict[str, Any]]:
    """A published history given as a list or as its JSON text (a template's rendering).

    Nothing published yet (None, ``"null"``, an empty string) is an empty history; so is a damaged
    value, which cannot be trusted to count anything.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else None
        except ValueError:
            return []
    if isinstance(value, list) and all(isinstance(entry, dict) for entry in value):
        return list(value)
    return []


def merge_histories(*histories: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every distinct event of the given histories, oldest first (events are stamped to the second;
    equal stamps keep the order they were given in)."""
    merged: list[dict[str, Any]] = []
    seen: set[str] = set()
    for history in histories:
        for event in history:
            identity = json.dumps(event, sort_keys=True, default=str)
            if identity not in seen:
                seen.add(identity)
                merged.append(event)
    return sorted(merged, key=lambda event: str(event.get("at", "")))


def restarts_by_others(history: Iterable[dict[str, Any]], job_id: str, task_id: str) -> int:
    """Restarts of ``job_id`` recorded by tasks other than ``task_id``; each task counts its own
    restarts in its own state, before each call, so an event that names no task is not counted here."""
    return sum(
        1
        for event in history
        if event.get("action") == "restart"
        and event.get("job_id") == job_id
        and event.get("by") not in (None, task_id)
    )


def attempt_of(history: Iterable[dict[str, Any]], job_id: str) -> int:
    """The attempt number the history gives ``job_id`` (1 when it does not mention it)."""
    attempts = [event.get("attempt") for event in history if event.get("job_id") == job_id]
    known = [attempt for attempt in attempts if isinstance(attempt, int) and attempt >= 1]
    return known[-1] if known else 1
