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
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
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


def reconcile(
    *,
    media_type: str,
    expected: int | None,
    ingested_count: int,
    ingested_names: list[str],
    failed: list[dict[str, Any]],
    processing_failed: list[dict[str, Any]],
    rows: int,
    rows_by_name: Counter[str],
    unnamed_rows: int,
) -> tuple[dict[str, bool | None], dict[str, Any]]:
    """The checks and the details that explain a failed one."""
    checks: dict[str, bool | None] = {}
    details: dict[str, Any] = {}
    checks["inputs_match"] = None if expected is None else expected == ingested_count + len(failed)
    checks["ingested_listed"] = ingested_count == len(ingested_names)
    known = set(ingested_names)
    unprocessed = {entry["file_name"] for entry in processing_failed} & known
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


def build_manifest(
    *,
    job_id: str,
    stage: str,
    output_batches: list[str],
    destination: str,
    media_type: str,
    batch_id: str,
    expected: int | None,
    expected_source: str | None,
    ingested_count: int,
    ingested_names: list[str],
    failed: list[dict[str, Any]],
    processing_failed: list[dict[str, Any]],
    rows: int,
    rows_by_name: Counter[str],
    unnamed_rows: int,
    files: Iterable[dict[str, Any]],
    key_for_name: Callable[[str], str] | None,
) -> dict[str, Any]:
    checks, details = reconcile(
        media_type=media_type,
        expected=expected,
        ingested_count=ingested_count,
        ingested_names=ingested_names,
        failed=failed,
        processing_failed=processing_failed,
        rows=rows,
        rows_by_name=rows_by_name,
        unnamed_rows=unnamed_rows,
    )
    failures = [
        {**entry, "source_key": _source_key(entry.get("file_name", ""), key_for_name)} for entry in failed
    ]
    unprocessed = [
        {**entry, "source_key": _source_key(entry.get("file_name", ""), key_for_name)}
        for entry in processing_failed
    ]
    return {
        "version": 1,
        "generated_at": datetime.now(UTC).isoformat(),
        "job_id": job_id,
        "stage": stage,
        "output_batches": output_batches,
        "destination": destination,
        "media_type": media_type,
        "inputs": {"expected": expected, "source": expected_source},
        "ingested": {"batch_id": batch_id, "count": ingested_count},
        "failed": {"count": len(failures), "files": failures},
        "processing_failed": {"count": len(unprocessed), "files": unprocessed},
        "results": {
            "rows": rows,
            "files_with_rows": sum(1 for n in ingested_names if rows_by_name.get(n, 0)),
            **details,
        },
        "sources": [
            {"name": name, "source_key": _source_key(name, key_for_name), "rows": rows_by_name.get(name, 0)}
            for name in ingested_names
        ],
        "files": sorted(files, key=lambda f: f["path"]),
        "checks": checks,
        "reconciled": all(value is not False for value in checks.values()),
    }
