"""The task state store the helper packages keep their progress in: Airflow's ``task_state_store``.

It survives retries and clears of the task (XComs do not): what a local upload already sent
(``ingest.completion_log``) and a task's part of the job ledger (``jobs.ledger_store``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol


class StateStore(Protocol):
    """The get/set of a task's state store."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None: ...
