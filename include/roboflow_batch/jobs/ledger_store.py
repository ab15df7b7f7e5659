"""One task's own part of the job ledger, kept in its ``task_state_store`` (survives retries and clears).

The start-job task and the task that waits for the job each keep here the events they made and how
many times they restarted each job; the keys are the same in both tasks' stores, and a state written
by earlier versions (a list of event objects, a ``{job id: count}`` object) reads the same.
"""

from __future__ import annotations

from airflow.sdk import NEVER_EXPIRE  # type: ignore[attr-defined]  # missing from the sdk's stub

from include.roboflow_batch.jobs.ledger import JobHistory
from include.roboflow_batch.task_state import StateStore

HISTORY_STATE_KEY = "roboflow_job_history"
RESTARTS_STATE_KEY = "roboflow_job_restarts"


class TaskLedger:
    """A task's own job history and restart counts in its task state."""

    def __init__(self, store: StateStore, task_id: str) -> None:
        self.store = store
        self.task_id = task_id

    def history(self) -> JobHistory:
        return JobHistory.read_stored(self.store.get(HISTORY_STATE_KEY))

    def save(self, history: JobHistory) -> None:
        self.store.set(HISTORY_STATE_KEY, history.entries(), retention=NEVER_EXPIRE)

    def _restarts(self) -> dict[str, int]:
        stored = self.store.get(RESTARTS_STATE_KEY)
        if not isinstance(stored, dict):
            return {}
        return {str(job): count for job, count in stored.items() if isinstance(count, int)}

    def restarts_done(self, job_id: str, others: JobHistory) -> int:
        """Restarts of ``job_id`` in this run: this task's own and those ``others`` record by other tasks."""
        return self._restarts().get(job_id, 0) + others.restarts_by_others(job_id, self.task_id)

    def count_restart(self, job_id: str) -> None:
        """Count a restart before it is asked for: a crash in between can cost one restart of the budget
        but never lifts the bound."""
        restarts = self._restarts()
        restarts[job_id] = restarts.get(job_id, 0) + 1
        self.store.set(RESTARTS_STATE_KEY, restarts, retention=NEVER_EXPIRE)
