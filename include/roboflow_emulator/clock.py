"""The emulator's own clock: wall time plus an offset that `POST /__emulator__/clock` moves forward.

Batch dates (`createdDate`, `expiryDate`) and job `createdAt` are read from it, so moving it eight
days makes every batch staged before look as Roboflow shows a batch past its 7-day retention.
Event timestamps of shards, tasks and logs stay on wall time.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from include.roboflow_emulator.timestamps import utc_now


class EmulatorClock:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)

    @property
    def offset(self) -> timedelta:
        with self._lock:
            return self._offset

    def now(self) -> datetime:
        return utc_now() + self.offset

    def advance(self, seconds: float) -> datetime:
        """Move the clock ``seconds`` forward (never back: dates already handed out stay in order)."""
        if seconds < 0:
            raise ValueError(f"the clock only moves forward; got advanceSeconds={seconds}")
        with self._lock:
            self._offset += timedelta(seconds=seconds)
        return self.now()

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta(0)
