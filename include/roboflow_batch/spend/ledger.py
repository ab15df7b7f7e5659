"""The spend ledger: one immutable record per job run, under ``<ledger>/<UTC month>/`` on any store.

Every worker reads and writes the same location (``file://`` a shared directory, ``s3://``, ``gs://``)
and nothing is ever read, changed and written back: a run adds its own records and deletes only its
own reservation once the measurement replaces it. Totals come from listing the UTC months a period
touches; only the estimate reads record contents (the pipeline's latest measured jobs).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from include.roboflow_batch.spend.periods import utc_months
from include.roboflow_batch.spend.records import (
    LedgerEntry,
    RecordError,
    RecordKey,
    SpendRecord,
    parse_name,
)


def current(entries: Iterable[LedgerEntry]) -> list[LedgerEntry]:
    """One entry per job run: its measurement when there is one, else its reservation."""
    chosen: dict[RecordKey, LedgerEntry] = {}
    for entry in sorted(entries, key=lambda e: (e.at, e.name)):
        held = chosen.get(entry.key)
        if held is None or (held.kind == "reserved" and entry.kind == "measured"):
            chosen[entry.key] = entry
    return sorted(chosen.values(), key=lambda e: (e.at, e.name))


class SpendLedger:
    """``root`` is an ``ObjectStoragePath`` (or anything with ``/``, ``iterdir``, ``write_text``, ...)."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.unreadable: list[str] = []

    def __repr__(self) -> str:
        return f"SpendLedger({self.root})"

    def _month(self, month: str) -> Any:
        return self.root / month

    def entries(self, start: datetime, end: datetime) -> list[LedgerEntry]:
        """Every record whose time is in ``[start, end)``: reservations and measurements."""
        found: list[LedgerEntry] = []
        for month in utc_months(start, end):
            folder = self._month(month)
            try:
                children = list(folder.iterdir())
            except (FileNotFoundError, NotADirectoryError):
                continue  # no record in that month yet
            for child in children:
                name = str(child.name)
                if name.startswith("."):
                    continue  # a store's own temporary files
                try:
                    entry = parse_name(name)
                except RecordError:
                    if name not in self.unreadable:
                        self.unreadable.append(name)  # never counted, never fatal: the caller warns
                    continue
                if start <= entry.at < end:
                    found.append(entry)
        return found

    def path_of(self, entry: LedgerEntry | SpendRecord) -> Any:
        return self._month(entry.at.strftime("%Y-%m")) / entry.name

    def write(self, record: SpendRecord) -> LedgerEntry:
        path = self.path_of(record)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(record.to_json())
        return parse_name(record.name)

    def read(self, entry: LedgerEntry) -> SpendRecord:
        path = self.path_of(entry)
        return SpendRecord.from_json(path.read_text(), str(path))

    def delete(self, entry: LedgerEntry) -> None:
        """Delete one of this run's own records (a reservation replaced or lost in a race)."""
        with contextlib.suppress(FileNotFoundError):
            self.path_of(entry).unlink()
