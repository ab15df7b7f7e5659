"""Counting result rows (CSV or JSONL, per ``aggregationFormat``) and which input file each row belongs to."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

RESULT_FORMATS = {".jsonl": "jsonl", ".csv": "csv"}
#: Columns that name the input file of a result row, tried in this order when ``name_field`` is not set.
NAME_FIELD_CANDIDATES = ("file_name", "fileName", "image_name", "input_name", "image", "name", "filename")


class UnreadableResultError(ValueError):
    """A result file (CSV/JSONL) could not be parsed; the message names the file and line."""


def result_format(path: str) -> str | None:
    """``"csv"``/``"jsonl"`` for a result file, None for anything else (images, logs...)."""
    lowered = path.lower()
    for suffix, fmt in RESULT_FORMATS.items():
        if lowered.endswith(suffix):
            return fmt
    return None


@dataclass
class ResultCount:
    rows: int = 0
    rows_by_name: Counter[str] = field(default_factory=Counter)
    unnamed_rows: int = 0

    def add(self, other: ResultCount) -> None:
        self.rows += other.rows
        self.rows_by_name.update(other.rows_by_name)
        self.unnamed_rows += other.unnamed_rows


@dataclass
class SourceResult:
    """What one transferred source produced: its files (path, size, sha256) and their result rows."""

    files: list[dict[str, Any]] = field(default_factory=list)
    written: int = 0
    counts: ResultCount = field(default_factory=ResultCount)


def row_name_field(row: Mapping[str, Any], name_field: str | None = None) -> str | None:
    """The column of ``row`` that names its input file (``name_field``, else the first candidate found)."""
    fields = (name_field,) if name_field else NAME_FIELD_CANDIDATES
    for key in fields:
        value = row.get(key)
        if isinstance(value, str) and value:
            return key
    return None


def row_name(row: Mapping[str, Any], name_field: str | None = None) -> str | None:
    """The input file a result row is about, or None when no column names it."""
    key = row_name_field(row, name_field)
    return None if key is None else row[key]


def count_results(lines: Iterable[str], fmt: str, source: str, name_field: str | None = None) -> ResultCount:
    """Count the rows of one result file; a row that cannot be parsed is an error naming the file and line."""
    count = ResultCount()
    if fmt == "csv":
        rows: Iterable[Mapping[str, Any]] = csv.DictReader(lines)
    elif fmt == "jsonl":
        rows = _jsonl_rows(lines, source)
    else:
        raise ValueError(f"{source}: unknown result format {fmt!r}")
    for row in rows:
        count.rows += 1
        name = row_name(row, name_field)
        if name is None:
            count.unnamed_rows += 1
        else:
            count.rows_by_name[name] += 1
    return count


def _jsonl_rows(lines: Iterable[str], source: str) -> Iterable[Mapping[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}, line {number}: not valid JSON ({exc.msg})") from exc
        yield row if isinstance(row, Mapping) else {}


def count_result_bytes(
    content: bytes | memoryview, fmt: str, relpath: str, name_field: str | None
) -> ResultCount:
    """Rows of a result file held in memory; an unreadable one is an :class:`UnreadableResultError`."""
    try:
        # newline="": lines end where the streamed reader ends them, CSV's quoted line breaks kept.
        lines = io.StringIO(bytes(content).decode("utf-8"), newline="")
        return count_results(lines, fmt, relpath, name_field)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableResultError(f"Unreadable result file {relpath}: {exc}") from exc
