"""Window boundaries by the filesystem's own clock, for local windows that must hold exactly the files
written inside them.

A file's arrival (the later of its modification and change times) is stamped from the kernel's
coarse clock, which can lag ``time.time()`` by a few milliseconds: a boundary read from the system
clock can fall after a file written just later. These boundaries are read from a probe file instead,
and each waits until that clock has moved past every file written before it.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

from include.roboflow_batch.ingest.local_files import arrival_time


def _stamp(scratch: Path) -> float:
    scratch.mkdir(parents=True, exist_ok=True)
    probe = scratch / "clock-probe"
    probe.write_bytes(b"")
    return arrival_time(os.stat(probe))


def boundary(scratch: Path) -> datetime:
    """A moment by the filesystem clock after every file written before this call and at or before
    every file written after it. ``scratch``: a folder outside the watched one, on its filesystem."""
    floor = _stamp(scratch)
    while (stamp := _stamp(scratch)) <= floor:  # the clock's next tick
        time.sleep(0.001)
    return datetime.fromtimestamp(stamp, UTC)


def whole_second_boundary(scratch: Path) -> datetime:
    """The next whole second, once the filesystem clock has reached it: files written before this call
    arrived before it, files written after it arrive at or after it."""
    target = int(_stamp(scratch)) + 1
    while _stamp(scratch) < target:
        time.sleep(min(0.05, max(0.001, target - time.time())))
    return datetime.fromtimestamp(target, UTC)
