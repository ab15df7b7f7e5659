"""Job outputs in Data Staging: result files (JSONL or CSV), `.tar.gz` archives, multipart batches."""

from __future__ import annotations

import csv
import io
import json
import tarfile
from datetime import timedelta
from typing import Any

from include.roboflow_emulator.state import MULTIPART_BATCH, Batch, BatchPart, Store, StoredFile


def results_file(rows: list[dict[str, Any]], aggregation_format: str) -> bytes:
    """One line (JSONL) or record (CSV) per row; CSV cells holding lists or objects are JSON text."""
    if aggregation_format == "jsonl":
        return "".join(json.dumps(row, sort_keys=False) + "\n" for row in rows).encode()
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()})
    return buffer.getvalue().encode()


def tar_gz(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0  # archives of equal results are byte-identical
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def create_output_batch(
    store: Store, batch_id: str, content_type: str, parts: list[BatchPart], retention_seconds: float
) -> Batch:
    """A fresh multipart output batch (a restarted job's stage replaces its earlier output)."""
    batch = Batch(
        batch_id=batch_id,
        display_name=batch_id,
        batch_type=MULTIPART_BATCH,
        content_type=content_type,
        created=store.clock.now(),
        retention=timedelta(seconds=retention_seconds),
        parts={p.part_name: p for p in parts},
    )
    with store.lock:
        store.batches[batch_id] = batch
    return batch


def add_output_file(
    store: Store, batch: Batch, part_name: str, file_name: str, content: bytes, shard_id: str
) -> None:
    part = batch.parts[part_name]
    with store.lock:
        batch.files[(part_name, file_name)] = StoredFile(
            file_name,
            content,
            part.content_type,
            shard_id=shard_id,
            part_name=part_name,
            nested_content_type=part.nested_content_type,
        )
