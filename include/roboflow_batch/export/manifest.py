"""The export manifest: what went in, what was staged, what failed, what came out, and whether it adds up.

Reconciliation rules (``checks`` in the manifest; ``reconciled`` is true when none is false):

- ``inputs_match``: inputs (expected count) == ingested (staged count) + failed (per-file ingest
  failures). Skipped (None) when the expected count is unknown.
- ``ingested_listed``: the staged count equals the number of files listed in the input batch.
- ``rows_match``: images: exactly one result row per ingested file and no row for an unknown file;
  videos: at least one row per ingested file. A file the workflow could not process (the job logged
  it with its name and reason, listed under ``processing_failed``) counts as accounted for without a
  row. When rows carry no file name, the total row count is compared with the ingested count minus
  those failures instead (images only).
- ``skipped_listed``: every object skipped while listing (empty, oversize, unsupported type, name
  too long) is in the manifest with its reason: the listing's skipped count equals the entries read
  back. Skipped (None) when the listing's count is unknown (no references step).

``objects`` sums it up: seen (listed in the window) = processed (staged, with result rows) + failed at
ingest + skipped while listing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Enough examples to act on, without turning the manifest into a second copy of the results.
MAX_EXAMPLES = 100


def _source_key(name: str, key_for_name: Callable[[str], str] | None) -> str | None:
    if key_for_name is None:
        return None
    try:
        return key_for_name(name)
    except (ValueError, KeyError):
        return None


@dataclass(frozen=True)
class ExportCounts:
    """What reconciliation compares: inputs, staged files, failures and result rows."""

    media_type: str
    expected: int | None
    ingested_count: int
    ingested_names: list[str]
    failed: list[dict[str, Any]]
    processing_failed: list[dict[str, Any]]
    rows: int
    rows_by_name: Counter[str]
    unnamed_rows: int
    # Objects skipped while listing ({"key", "reason"}), and how many the listing reported.
    skipped: list[dict[str, Any]] = field(default_factory=list)
    skipped_expected: int | None = None


@dataclass(frozen=True)
class ExportRecord:
    """Everything the manifest of one export states."""

    job_id: str
    stage: str
    output_batches: list[str]
    destination: str
    batch_id: str
    expected_source: str | None
    counts: ExportCounts
    files: Iterable[dict[str, Any]]
    key_for_name: Callable[[str], str] | None


def reconcile(counts: ExportCounts) -> tuple[dict[str, bool | None], dict[str, Any]]:
    """The checks and the details that explain a failed one."""
    media_type, expected, rows = counts.media_type, counts.expected, counts.rows
    ingested_count, ingested_names = counts.ingested_count, counts.ingested_names
    rows_by_name, unnamed_rows = counts.rows_by_name, counts.unnamed_rows
    checks: dict[str, bool | None] = {}
    details: dict[str, Any] = {}
    checks["inputs_match"] = None if expected is None else expected == ingested_count + len(counts.failed)
    checks["ingested_listed"] = ingested_count == len(ingested_names)
    skipped_expected = counts.skipped_expected
    checks["skipped_listed"] = None if skipped_expected is None else len(counts.skipped) == skipped_expected
    known = set(ingested_names)
    unprocessed = {entry["file_name"] for entry in counts.processing_failed} & known
    if unnamed_rows and not rows_by_name:
        with_rows = ingested_count - len(unprocessed)
        checks["rows_match"] = rows == with_rows if media_type == "images" else None
        details["rows_without_file_name"] = unnamed_rows
        return checks, details
    missing = [n for n in ingested_names if rows_by_name.get(n, 0) == 0 and n not in unprocessed]
    duplicated = sorted(n for n in known if rows_by_name.get(n, 0) > 1) if media_type == "images" else []
    unexpected = sorted(n for n in rows_by_name if n not in known)
    checks["rows_match"] = not (missing or duplicated or unexpected or unnamed_rows)
    details.update(
        {
            "files_without_rows": missing[:MAX_EXAMPLES],
            "files_with_several_rows": duplicated[:MAX_EXAMPLES],
            "rows_for_unknown_files": unexpected[:MAX_EXAMPLES],
            "rows_without_file_name": unnamed_rows,
        }
    )
    return checks, details


def build_manifest(record: ExportRecord) -> dict[str, Any]:
    counts, key_for_name = record.counts, record.key_for_name
    checks, details = reconcile(counts)
    failures = [
        {**entry, "source_key": _source_key(entry.get("file_name", ""), key_for_name)}
        for entry in counts.failed
    ]
    unprocessed = [
        {**entry, "source_key": _source_key(entry.get("file_name", ""), key_for_name)}
        for entry in counts.processing_failed
    ]
    skipped_seen = len(counts.skipped) if counts.skipped_expected is None else counts.skipped_expected
    return {
        "version": 1,
        "generated_at": datetime.now(UTC).isoformat(),
        "job_id": record.job_id,
        "stage": record.stage,
        "output_batches": record.output_batches,
        "destination": record.destination,
        "media_type": counts.media_type,
        "inputs": {"expected": counts.expected, "source": record.expected_source},
        "ingested": {"batch_id": record.batch_id, "count": counts.ingested_count},
        "failed": {"count": len(failures), "files": failures},
        "skipped": {"count": len(counts.skipped), "files": counts.skipped},
        "objects": {
            "seen": None if counts.expected is None else counts.expected + skipped_seen,
            "processed": counts.ingested_count,
            "failed": len(failures),
            "skipped": len(counts.skipped),
        },
        "processing_failed": {"count": len(unprocessed), "files": unprocessed},
        "results": {
            "rows": counts.rows,
            "files_with_rows": sum(1 for n in counts.ingested_names if counts.rows_by_name.get(n, 0)),
            **details,
        },
        "sources": [
            {
                "name": name,
                "source_key": _source_key(name, key_for_name),
                "rows": counts.rows_by_name.get(name, 0),
            }
            for name in counts.ingested_names
        ],
        "files": sorted(record.files, key=lambda f: f["path"]),
        "checks": checks,
        "reconciled": all(value is not False for value in checks.values()),
    }
