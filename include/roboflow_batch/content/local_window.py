"""A local window against the processed-content record: files whose bytes another window processed
are left out, the content of the rest is listed for the window's record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from airflow.sdk import ObjectStoragePath

from include.roboflow_batch.content.file_hashes import CACHE_NAME, FileHashCache
from include.roboflow_batch.content.record import ContentRecord, WindowRef
from include.roboflow_batch.content.window_content import ALREADY_PROCESSED, ContentFilter, content_line
from include.roboflow_batch.ingest.local_files import LocalFile, SkippedEntry
from include.roboflow_batch.references.jsonl import AtomicJSONLWriter


@dataclass
class LocalWindowContent:
    """The window's files to send, those left out as already processed, and the content list."""

    files: list[LocalFile]
    processed: list[SkippedEntry] = field(default_factory=list)
    content_uri: str | None = None
    hashed: int = 0
    cached: int = 0


def leave_out_processed(
    files: Sequence[LocalFile],
    record_uri: str,
    conn_id: str | None,
    window: WindowRef | None,
    content_list: ObjectStoragePath,
) -> LocalWindowContent:
    """Hash ``files`` (reading only what changed since the cache was written), leave out those
    another window processed, and write the content of the rest to ``content_list``."""
    root = ObjectStoragePath(record_uri, conn_id=conn_id)
    index = ContentRecord(root).load(window)
    cache = FileHashCache(root / CACHE_NAME).load()
    digests = cache.digests(files)
    by_name = {item.name: item for item in files}
    result = LocalWindowContent(files=[])

    def processed(key: str, size: int, earlier: WindowRef) -> None:
        result.processed.append(SkippedEntry(key, ALREADY_PROCESSED, size, processed_in=earlier.to_json()))

    noted = 0
    with AtomicJSONLWriter(content_list) as writer:

        def sent(name: str, digest: bytes) -> None:
            nonlocal noted
            noted += 1
            writer.write(content_line(name, digest))

        content = ContentFilter(index, processed, sent)
        selected = (
            (item.name, item.name, item.size, digest) for item, digest in zip(files, digests, strict=True)
        )
        result.files = [by_name[name] for _, name in content.unprocessed(selected)]
        if noted:
            result.content_uri = writer.commit()
        else:
            writer.abort()
    cache.save()
    result.hashed, result.cached = cache.reads, cache.hits
    return result
