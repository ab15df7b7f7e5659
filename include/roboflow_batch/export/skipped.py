"""Objects skipped while listing (empty, oversize, unsupported type, name too long, unreadable), read
back from the JSONL a listing writes next to its references file or file lists, for the manifest."""

from __future__ import annotations

import json
from typing import Any

from airflow.sdk import ObjectStoragePath

from include.roboflow_batch.counts import optional_count


def listed_skipped_count(value: int | None) -> int | None:
    """The listing's skipped count, or None when there was no listing step."""
    return optional_count("skipped_count", value)


def _window(value: Any) -> dict[str, str | None] | None:
    """The window an ``already-processed`` entry names (outside input: only its text fields)."""
    if not isinstance(value, dict) or not isinstance(value.get("end"), str):
        return None
    start = value.get("start")
    return {
        "start": start if isinstance(start, str) else None,
        "end": value["end"],
        "select": str(value.get("select", "interval")),
    }


def read_skipped(uri: str | None, conn_id: str | None) -> list[dict[str, Any]]:
    """Every ``{"key", "reason"}`` entry (with ``size`` when known, and ``processed_in``, the window
    that processed the same content, for ``already-processed`` ones) of the skipped list (none when
    there is no list).

    A missing or unreadable list gives no entries, so the manifest's ``skipped_listed`` check fails
    rather than the objects disappearing silently.
    """
    if uri is None:
        return []
    entries: list[dict[str, Any]] = []
    try:
        with ObjectStoragePath(uri, conn_id=conn_id).open("r", encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                item = json.loads(line)
                if isinstance(item, dict) and isinstance(item.get("key"), str):
                    entry: dict[str, Any] = {"key": item["key"], "reason": str(item.get("reason", ""))}
                    size = item.get("size")
                    if isinstance(size, int) and not isinstance(size, bool):
                        entry["size"] = size
                    if (window := _window(item.get("processed_in"))) is not None:
                        entry["processed_in"] = window
                    entries.append(entry)
    except (FileNotFoundError, ValueError):
        return entries
    return entries
