"""What the manifest says about the job's inputs: the input batch's files and failures, and the files
the workflow could not process. Plain API reads, paged at :data:`LIST_PAGE_SIZE`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from include.roboflow_batch.api.client import RoboflowClient
from include.roboflow_batch.export.listing import LIST_PAGE_SIZE

# (files staged, their names, files that failed to stage)
InputFiles = tuple[int, list[str], list[dict[str, Any]]]


def input_batch_files(client: RoboflowClient, batch_id: str) -> InputFiles:
    """``(count, file names, files that failed to stage)`` of the input batch (D3, D5, D6)."""
    count = client.count_batch(batch_id)
    names = [meta.file_name for meta in client.iter_batch_files(batch_id, page_size=LIST_PAGE_SIZE)]
    failed: list[dict[str, Any]] = []
    for shard in client.iter_shards(batch_id):
        for entry in (shard.status_metadata or {}).get("failedFiles") or []:
            failed.append(
                {
                    "file_name": entry.get("fileName", ""),
                    "type": entry.get("type", ""),
                    "reason": entry.get("reason", ""),
                    "shard_id": shard.shard_id,
                }
            )
    return count, names, failed


def processing_failures(client: RoboflowClient, job_id: str) -> list[dict[str, Any]]:
    """Files the workflow could not process, as the job logged them (list job logs, B8)."""
    failures: dict[str, dict[str, Any]] = {}
    for severity in ("warning", "error"):
        for log in client.iter_job_logs(job_id, severity=severity):
            payload = log.payload or {}
            name = payload.get("fileName") or payload.get("file_name")
            if isinstance(name, str) and name and name not in failures:
                reason = payload.get("message") or payload.get("reason") or log.log_type
                failures[name] = {"file_name": name, "reason": str(reason), "log_type": log.log_type}
    return list(failures.values())


#: Where a job its ceiling stopped keeps what finished (its export stage never ran), and how the
#: files it did not reach are marked in the manifest.
CEILING_STOP_STAGE = "processing"
CEILING_STOP_TYPE = "stopped-by-ceiling"
CEILING_STOP_REASON = "not processed: the job's machine-time ceiling (processingTimeoutSeconds) ran out first"


def ceiling_unprocessed(
    ingested_names: Iterable[str], rows_by_name: Mapping[str, int], known: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Every staged file of a job its ceiling stopped that has no result row and no logged failure."""
    logged = {entry.get("file_name") for entry in known}
    return [
        {"file_name": name, "reason": CEILING_STOP_REASON, "log_type": CEILING_STOP_TYPE}
        for name in ingested_names
        if not rows_by_name.get(name) and name not in logged
    ]
