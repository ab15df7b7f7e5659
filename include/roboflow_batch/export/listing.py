"""Listing a job's output batches into the source files to export, with every server-chosen name checked.

Pages are requested at :data:`LIST_PAGE_SIZE` (the server may cap it lower), so a listing costs a
few calls per ten thousand files instead of one per hundred. Batch ids, part names, shard ids and file
names all become folders or file names at the destination, so each must be a safe relative name
(:func:`include.roboflow_batch.export.names.check_relative_name`) before anything is transferred.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from include.roboflow_batch.api.errors import NotFoundError
from include.roboflow_batch.export.archives import archive_stem, is_archive
from include.roboflow_batch.export.names import check_relative_name
from include.roboflow_batch.export.source_transfer import SourceFile

LIST_PAGE_SIZE = 10_000


class DuplicateSourceError(ValueError):
    """The output listing names the same file twice."""


class OutputBatchGoneError(LookupError):
    """Roboflow no longer has an output batch (404: past its retention, or never made)."""

    def __init__(self, batch_id: str, answer: NotFoundError) -> None:
        super().__init__(f"output batch {batch_id!r} not found ({answer})")
        self.batch_id = batch_id
        self.answer = answer


def _batch_files(
    client: Any, batch_id: str, on_batch: Callable[[Any], None]
) -> list[tuple[str, str | None, Any]]:
    batch = client.get_batch(batch_id)
    on_batch(batch)
    if batch.batch_type == "multipart-batch":
        part_names: list[str | None] = [p.part_name for p in client.list_batch_parts(batch_id)]
    else:
        part_names = [None]
    listed: list[tuple[str, str | None, Any]] = []
    for part_name in part_names:
        if part_name is not None:
            check_relative_name(part_name, f"part name of batch {batch_id}")
        for meta in client.iter_batch_files(batch_id, part_name=part_name, page_size=LIST_PAGE_SIZE):
            check_relative_name(meta.file_name, f"file name in batch {batch_id}")
            if meta.shard_id:
                check_relative_name(meta.shard_id, f"shard id in batch {batch_id}")
            listed.append((batch_id, part_name, meta))
    return listed


def list_sources(client: Any, batch_ids: list[str], on_batch: Callable[[Any], None]) -> list[SourceFile]:
    """Every file of the output batches, each with the destination folder it lands in."""
    listed: list[tuple[str, str | None, Any]] = []
    for batch_id in batch_ids:
        check_relative_name(batch_id, "output batch id")
        try:
            listed += _batch_files(client, batch_id, on_batch)
        except NotFoundError as exc:
            raise OutputBatchGoneError(batch_id, exc) from None
    # Files of different shards may share a name; give those a shard folder instead of overwriting.
    names = Counter((b, p, m.file_name) for b, p, m in listed)
    sources = []
    for batch_id, part_name, meta in listed:
        segments = [batch_id] if len(batch_ids) > 1 else []
        if part_name:
            segments.append(part_name)
        if names[(batch_id, part_name, meta.file_name)] > 1:
            segments.append(meta.shard_id or "unsharded")
        if is_archive(meta.file_name):
            segments.append(
                check_relative_name(
                    archive_stem(meta.file_name), f"folder name of archive {meta.file_name!r}:"
                )
            )
        key = "/".join([batch_id, part_name or "", meta.shard_id or "", meta.file_name])
        sources.append(
            SourceFile(
                key=key, file_name=meta.file_name, download_url=meta.download_url, folder="/".join(segments)
            )
        )
    if len({s.key for s in sources}) != len(sources):
        raise DuplicateSourceError("lists the same file twice; cannot export safely")
    return sources
