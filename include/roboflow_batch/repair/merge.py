"""A repair's outcome merged into the window's manifest, so that the window reconciles as one.

The repair's export writes its own ``manifest.json`` in the repair's folder (``repair-<n>/``) beside
the window's files. Merging it into the window's ``manifest.json``:

- every object the repair staged and processed now has its result rows (``sources``) and leaves the
  window's failures; one that failed again keeps a failure with the repair's newer reason;
- ``ingested``, ``failed``, ``processing_failed``, ``results`` and ``objects`` are the counts of the
  window after the repair; ``inputs`` (what the window listed) and ``skipped`` do not change;
- ``files`` gains the repair's files (under its folder), ``job_history`` the repair job's history;
- ``repairs`` lists each repair: its number, batch, job, folder, what it took and what became of it;
- ``checks`` are computed again over the merged window (``manifest.reconcile``), with
  ``repairs_reconciled`` (every repair's own manifest reconciled).

Merging the same repair twice changes nothing (a repair is known by its job id). Pure: no I/O.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from include.roboflow_batch.export.manifest import ExportCounts, reconcile
from include.roboflow_batch.jobs.ledger import JobHistory
from include.roboflow_batch.repair.selection import FAILED_AT_INGEST, FAILED_IN_PROCESSING, WITHOUT_ROWS

PROCESSED = "processed"
NOT_STAGED = "not staged by the repair"


def _by_name(entries: Any, key: str) -> dict[str, dict[str, Any]]:
    return {
        str(entry.get(key)): dict(entry)
        for entry in entries or []
        if isinstance(entry, Mapping) and entry.get(key)
    }


def _check(*values: Any) -> bool | None:
    """False when any is False, None when all are None, else True."""
    if any(value is False for value in values):
        return False
    return None if all(value is None for value in values) else True


def merge_repair(
    window: Mapping[str, Any], repair: Mapping[str, Any], *, number: int, folder: str
) -> dict[str, Any]:
    """The window's manifest with ``repair`` (the repair export's manifest, whose files are in
    ``folder`` of the window's destination) merged in."""
    if any(entry.get("job_id") == repair["job_id"] for entry in window.get("repairs") or []):
        return dict(window)
    merged = copy.deepcopy(dict(window))
    sources = _by_name(window.get("sources"), "name")
    failed = _by_name((window.get("failed") or {}).get("files"), "file_name")
    unprocessed = _by_name((window.get("processing_failed") or {}).get("files"), "file_name")
    repaired_sources = _by_name(repair.get("sources"), "name")
    repaired_failed = _by_name((repair.get("failed") or {}).get("files"), "file_name")
    repaired_unprocessed = _by_name((repair.get("processing_failed") or {}).get("files"), "file_name")

    outcomes: list[dict[str, Any]] = []
    newly_staged = 0
    unknown: list[str] = []
    for name, staged in repaired_sources.items():
        was = _state(name, failed, unprocessed, sources)
        if was is None:
            unknown.append(name)  # the window never saw it: its rows are rows for an unknown file
            continue
        if name in failed:
            del failed[name]
            newly_staged += 1
        entry = sources.setdefault(name, {"name": name, "source_key": staged.get("source_key"), "rows": 0})
        entry["rows"] = int(entry.get("rows") or 0) + int(staged.get("rows") or 0)
        if name in repaired_unprocessed:
            unprocessed[name] = repaired_unprocessed[name]
            now = FAILED_IN_PROCESSING
        elif entry["rows"]:
            unprocessed.pop(name, None)
            now = PROCESSED
        else:
            now = WITHOUT_ROWS
        outcomes.append({"name": name, "was": was, "now": now})
    for name, failure in repaired_failed.items():
        was = _state(name, failed, unprocessed, sources)
        if name in failed:
            failed[name] = failure  # the newer reason
        outcomes.append({"name": name, "was": was, "now": FAILED_AT_INGEST})

    names = [str(entry["name"]) for entry in sources.values()]
    rows_by_name = Counter({name: int(entry.get("rows") or 0) for name, entry in sources.items()})
    details = dict(window.get("results") or {})
    for name in [*details.get("rows_for_unknown_files", []), *unknown]:
        rows_by_name[name] = max(rows_by_name[name], 1)
    rows = int(details.get("rows") or 0) + int((repair.get("results") or {}).get("rows") or 0)
    unnamed = int(details.get("rows_without_file_name") or 0) + int(
        (repair.get("results") or {}).get("rows_without_file_name") or 0
    )
    ingested_count = int((window.get("ingested") or {}).get("count") or 0) + newly_staged
    counts = ExportCounts(
        media_type=str(window.get("media_type") or "images"),
        expected=(window.get("inputs") or {}).get("expected"),
        ingested_count=ingested_count,
        ingested_names=names,
        failed=list(failed.values()),
        processing_failed=list(unprocessed.values()),
        rows=rows,
        rows_by_name=+rows_by_name,
        unnamed_rows=unnamed,
    )
    checks, new_details = reconcile(counts)
    entry = _repair_entry(repair, number, folder, outcomes)
    repairs = [*(window.get("repairs") or []), entry]
    window_checks = window.get("checks") or {}
    checks["ingested_listed"] = _check(
        window_checks.get("ingested_listed"), (repair.get("checks") or {}).get("ingested_listed")
    )
    checks["skipped_listed"] = window_checks.get("skipped_listed")
    checks["repairs_reconciled"] = all(item.get("reconciled") is True for item in repairs)

    merged.update(
        {
            "generated_at": datetime.now(UTC).isoformat(),
            "ingested": {**(window.get("ingested") or {}), "count": ingested_count},
            "failed": {"count": len(failed), "files": list(failed.values())},
            "processing_failed": {"count": len(unprocessed), "files": list(unprocessed.values())},
            "results": {
                "rows": rows,
                "files_with_rows": sum(1 for name in names if rows_by_name.get(name, 0)),
                **new_details,
            },
            "sources": list(sources.values()),
            "files": [
                *(window.get("files") or []),
                *({**item, "path": f"{folder}/{item['path']}"} for item in repair.get("files") or []),
            ],
            "job_history": JobHistory.read_stored(window.get("job_history"))
            .merged(JobHistory.read_stored(repair.get("job_history")))
            .entries(),
            "repairs": repairs,
            "checks": checks,
            "reconciled": all(value is not False for value in checks.values()),
        }
    )
    merged["objects"] = {
        **(window.get("objects") or {}),
        "processed": ingested_count,
        "failed": len(failed),
    }
    return merged


def _state(
    name: str,
    failed: Mapping[str, Any],
    unprocessed: Mapping[str, Any],
    sources: Mapping[str, Mapping[str, Any]],
) -> str | None:
    """What the window said about ``name`` before this repair (None: it does not know the object)."""
    if name in failed:
        return FAILED_AT_INGEST
    if name in unprocessed:
        return FAILED_IN_PROCESSING
    if name in sources:
        return PROCESSED if sources[name].get("rows") else WITHOUT_ROWS
    return None


def _repair_entry(
    repair: Mapping[str, Any], number: int, folder: str, outcomes: list[dict[str, Any]]
) -> dict[str, Any]:
    now = Counter(outcome["now"] for outcome in outcomes)
    return {
        "number": number,
        "job_id": repair["job_id"],
        "batch_id": (repair.get("ingested") or {}).get("batch_id"),
        "folder": f"{folder}/",
        "manifest": f"{folder}/manifest.json",
        "merged_at": datetime.now(UTC).isoformat(),
        "objects": (repair.get("inputs") or {}).get("expected"),
        "processed": now.get(PROCESSED, 0),
        "still_failing": sum(count for state, count in now.items() if state != PROCESSED),
        "not_staged": (repair.get("skipped") or {}).get("count", 0),
        "rows": (repair.get("results") or {}).get("rows", 0),
        "reconciled": repair.get("reconciled") is True,
        "outcomes": outcomes,
    }


def reapply_repairs(
    manifest: dict[str, Any], previous: Mapping[str, Any] | None, read_manifest: Callable[[str], Any]
) -> dict[str, Any]:
    """``manifest`` (an export of the window's job written again) with the repairs ``previous`` (the
    manifest it replaces, of the same job) had merged, read back from their folders' manifests."""
    for entry in (previous or {}).get("repairs") or []:
        folder = str(entry["folder"]).rstrip("/")
        repaired = read_manifest(f"{folder}/manifest.json")
        manifest = merge_repair(manifest, repaired, number=entry["number"], folder=folder)
    return manifest
