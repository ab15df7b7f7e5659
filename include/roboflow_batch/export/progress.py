"""The record of completed sources, written in batches so its cost stays linear in the number of files.

Each flush writes a new segment ``_progress/<random>.jsonl`` (one JSON line per completed source:
its key and the files it produced with size and sha256); nothing is ever rewritten. A flush happens
every ``batch_size`` records, every ``interval`` seconds and when the export ends (or fails), so a
crash loses at most the last batch, whose sources are then simply transferred again.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from include.roboflow_batch.export.destination import Destination

PROGRESS_FOLDER = "_progress"


def load_progress(dest: Destination) -> dict[str, dict[str, Any]]:
    """Completed sources from earlier runs: ``{source key: {"source", "files": [...]}}``."""
    records: dict[str, dict[str, Any]] = {}
    for segment in dest.list_folder(PROGRESS_FOLDER):
        if not segment.endswith(".jsonl"):
            continue
        relpath = f"{PROGRESS_FOLDER}/{segment}"
        text = dest.read_text(relpath) or ""
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                records[record["source"]] = record
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{dest.uri_of(relpath)}, line {number}: unreadable record ({exc})") from exc
    return records


class ProgressLog:
    """Collects completed sources from many threads and flushes them as new segments."""

    def __init__(self, dest: Destination, batch_size: int = 500, interval: float = 5.0) -> None:
        self._dest = dest
        self._batch_size = batch_size
        self._interval = interval
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._last_flush = time.monotonic()

    def record(self, source: str, files: list[dict[str, Any]]) -> None:
        line = json.dumps({"source": source, "files": files}, sort_keys=True) + "\n"
        with self._lock:
            self._pending.append(line)
            due = len(self._pending) >= self._batch_size or (
                time.monotonic() - self._last_flush >= self._interval
            )
            if due:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        text = "".join(self._pending)
        self._dest.put_text(f"{PROGRESS_FOLDER}/{uuid.uuid4().hex}.jsonl", text)
        self._pending = []
