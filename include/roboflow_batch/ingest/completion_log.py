"""What a local upload has already sent, kept in the task state store so a retry skips it.

XComs are cleared between attempts; the task state store is not. Writes are batched (at most one
per ``flush_every`` seconds, plus a final one) so that thousands of single uploads do not mean
thousands of store round trips; the few units a crash may leave unrecorded are caught on retry by
comparing with the files the batch already holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from include.roboflow_batch.task_state import StateStore

__all__ = ["CompletionLog", "StateStore"]

# Staged data lives 7 days on the service; a record older than that describes nothing.
RECORD_RETENTION = timedelta(days=7)


class CompletionLog:
    """Unit ids (file names or tar ids) already sent to one batch in one upload mode."""

    def __init__(
        self,
        store: StateStore | None,
        batch_id: str,
        mode: str,
        *,
        flush_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.key = f"roboflow_ingest:{batch_id}"
        self.mode = mode
        self._flush_every = flush_every
        self._clock = clock
        self._done: set[str] = set()
        self._dirty = False
        self._last_flush = clock()

    def load(self) -> set[str]:
        """Read what earlier attempts recorded for this batch and mode."""
        if self._store is None:
            return set()
        record = self._store.get(self.key)
        if isinstance(record, dict) and record.get("mode") == self.mode:
            self._done = {str(unit) for unit in record.get("done") or []}
        return set(self._done)

    def mark(self, unit_id: str) -> None:
        self._done.add(unit_id)
        self._dirty = True
        if self._clock() - self._last_flush >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        if self._store is None or not self._dirty:
            return
        self._store.set(self.key, {"mode": self.mode, "done": sorted(self._done)}, retention=RECORD_RETENTION)
        self._dirty = False
        self._last_flush = self._clock()
