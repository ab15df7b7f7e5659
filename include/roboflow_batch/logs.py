"""The logger the helper packages write to: a task's, a trigger's, or a plain ``logging.Logger``."""

from __future__ import annotations

from typing import Any, Protocol


class TaskLog(Protocol):
    """What ``jobs`` and ``ingest`` call on a logger; Airflow's structlog loggers and stdlib ones fit."""

    def info(self, msg: str, /, *args: Any) -> Any: ...

    def warning(self, msg: str, /, *args: Any) -> Any: ...
