"""The logger the helper packages write to: a task's, a trigger's, or a plain ``logging.Logger``."""

from __future__ import annotations

from typing import Any, Protocol


class TaskLog(Protocol):
    """What ``jobs`` and ``ingest`` call on a logger; Airflow's structlog loggers and stdlib ones fit."""

    def info(self, msg: str, /, *args: Any) -> Any: ...

    def warning(self, msg: str, /, *args: Any) -> Any: ...


class ProgressReporter:
    """Logs a wait's progress only when it differs from what was logged last (polls repeat a lot).

    Used the same way by both waits, on a worker and in the triggerer: the readiness of a staging
    batch and the stage and tasks of a job.
    """

    def __init__(self, log: TaskLog) -> None:
        self.log = log
        self.last: str | None = None

    def report(self, progress: str) -> None:
        if progress != self.last:
            self.log.info(progress)
            self.last = progress
