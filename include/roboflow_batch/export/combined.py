"""One manifest for a window that fanned out into several batches and jobs.

Each chunk's own ``manifest.json`` keeps the per-file detail (sources, failures, rows); this one
adds them up and checks that together they account for every object the listing found:

- ``every_chunk_exported``: one manifest per planned chunk, for that chunk's batch and job;
- ``chunks_cover_listing``: the chunks' references add up to the objects listed in the window;
- ``chunk_inputs_match_references``: every chunk expected exactly the references of its file;
- ``inputs_match``: expected == ingested + failed, summed over the chunks;
- ``distinct_batches_and_jobs``: no two chunks share a batch or a job;
- ``every_chunk_reconciled``: every chunk's own checks passed.

- ``skipped_listed``: every object the listing left out is in ``skipped.files`` (read back from
  its skipped list) with its reason.

Objects the listing left out (empty, oversize, unsupported type, unreadable) are counted by reason
under ``skipped`` and listed in ``skipped.files`` (the list they were read from is ``skipped.list``);
``objects`` sums the window up: seen = processed + failed at ingest + skipped while listing. A window
whose objects were all skipped has no chunk: its manifest counts seen = skipped and processed = 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

COMBINED_MANIFEST_VERSION = 1


class ChunkManifestError(ValueError):
    """A chunk manifest lacks a field the combined manifest needs (names the chunk and the field)."""


def _field(manifest: dict[str, Any], where: str, *path: str) -> Any:
    value: Any = manifest
    for part in path:
        if not isinstance(value, dict) or part not in value:
            raise ChunkManifestError(f"{where}: missing field {'.'.join(path)}")
        value = value[part]
    return value


def _count(manifest: dict[str, Any], where: str, *path: str) -> int:
    value = _field(manifest, where, *path)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ChunkManifestError(f"{where}: {'.'.join(path)} is not a count: {value!r}")
    return value


def chunk_entry(spec: dict[str, Any], manifest: dict[str, Any], manifest_uri: str) -> dict[str, Any]:
    """The numbers of one chunk, read from its manifest (validated: it comes from storage)."""
    where = f"chunk {spec['index']} manifest {manifest_uri}"
    expected = _field(manifest, where, "inputs", "expected")
    if expected is not None and (not isinstance(expected, int) or isinstance(expected, bool)):
        raise ChunkManifestError(f"{where}: inputs.expected is not a count: {expected!r}")
    processing_failed = manifest.get("processing_failed") or {}
    return {
        "index": spec["index"],
        "batch_id": _field(manifest, where, "ingested", "batch_id"),
        "job_id": _field(manifest, where, "job_id"),
        "references": spec["references"],
        "references_count": spec["count"],
        "manifest": manifest_uri,
        "expected": expected,
        "ingested": _count(manifest, where, "ingested", "count"),
        "failed": _count(manifest, where, "failed", "count"),
        "processing_failed": processing_failed.get("count", 0) if isinstance(processing_failed, dict) else 0,
        "result_rows": _count(manifest, where, "results", "rows"),
        "reconciled": _field(manifest, where, "reconciled") is True,
        "stopped_by_ceiling": isinstance(manifest.get("stopped_by_ceiling"), dict),
        "attempt": manifest.get("attempt", 1),
        **({"replaces": manifest["replaces"]} if manifest.get("replaces") else {}),
    }


def combine_manifests(
    *,
    specs: Sequence[dict[str, Any]],
    entries: Sequence[dict[str, Any]],
    listed: int,
    destination: str,
    media_type: str,
    window: dict[str, Any],
    skipped: dict[str, int] | None = None,
    skipped_list: str | None = None,
    skipped_files: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The combined manifest of ``entries`` (from ``chunk_entry``), one per spec of ``specs``.

    ``skipped`` counts, by reason, the objects of the window the listing left out (never sent);
    ``skipped_files`` are their entries read back from ``skipped_list``.
    """
    by_index = {entry["index"]: entry for entry in entries}
    exported = len(entries) == len(specs) and all(
        spec["index"] in by_index
        and by_index[spec["index"]]["batch_id"] == spec["batch_id"]
        and by_index[spec["index"]]["job_id"] == spec["job_id"]
        for spec in specs
    )
    expected = sum(entry["expected"] or 0 for entry in entries)
    ingested = sum(entry["ingested"] for entry in entries)
    failed = sum(entry["failed"] for entry in entries)
    skipped_count = sum((skipped or {}).values())
    checks = {
        "every_chunk_exported": exported,
        "chunks_cover_listing": sum(spec["count"] for spec in specs) == listed,
        "chunk_inputs_match_references": all(e["expected"] == e["references_count"] for e in entries),
        "inputs_match": expected == ingested + failed,
        "distinct_batches_and_jobs": len({e["batch_id"] for e in entries}) == len(entries)
        and len({e["job_id"] for e in entries}) == len(entries),
        "every_chunk_reconciled": all(entry["reconciled"] for entry in entries),
        "skipped_listed": len(skipped_files) == skipped_count,
    }
    return {
        "version": COMBINED_MANIFEST_VERSION,
        "kind": "combined",
        "generated_at": datetime.now(UTC).isoformat(),
        "destination": destination,
        "media_type": media_type,
        "window": window,
        "inputs": {"listed": listed, "expected": expected},
        "skipped": {
            "count": skipped_count,
            "reasons": dict(sorted((skipped or {}).items())),
            "list": skipped_list,
            "files": list(skipped_files),
        },
        "objects": {
            "seen": expected + skipped_count,
            "processed": ingested,
            "failed": failed,
            "skipped": skipped_count,
        },
        "ingested": {"count": ingested, "batch_ids": [e["batch_id"] for e in entries]},
        "failed": {"count": failed},
        "processing_failed": {"count": sum(entry["processing_failed"] for entry in entries)},
        "results": {"rows": sum(entry["result_rows"] for entry in entries)},
        "job_ids": [entry["job_id"] for entry in entries],
        "chunks": sorted(entries, key=lambda entry: entry["index"]),
        "checks": checks,
        "reconciled": all(checks.values()),
    }
