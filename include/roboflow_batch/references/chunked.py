"""Split a listing into references files of at most ``max_objects_per_file`` lines, one per staging batch.

Lines stream into a temporary file per chunk; only the chunk being written is buffered, so memory
stays flat for millions of objects. Nothing is published until the listing is complete: a failure
half-way leaves no chunk behind. A listing that fits in one file is written under the configured
name itself (a window under the limit looks exactly as it did before chunking existed); larger
ones become ``<stem>.chunk-0000<suffix>``, ``<stem>.chunk-0001<suffix>``, ...
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow.sdk import ObjectStoragePath

from include.roboflow_batch.content.record import RecordIndex
from include.roboflow_batch.content.window_content import ContentFilter
from include.roboflow_batch.media import MediaType
from include.roboflow_batch.references.expiry import EffectiveExpiry
from include.roboflow_batch.references.generate import (
    ReferencesSummary,
    closing_signer,
    content_filter,
    select_objects,
    signed_references,
    skipped_path,
)
from include.roboflow_batch.references.jsonl import AtomicJSONLWriter
from include.roboflow_batch.references.objects import Signer, StoredObject
from include.roboflow_batch.references.window import SelectionWindow

CHUNK_INFIX = ".chunk-"
CHUNK_DIGITS = 4


class TooManyChunksError(ValueError):
    """The listing needs more files than may be mapped; the message says which setting to raise."""


@dataclass(frozen=True)
class ReferencesChunk:
    index: int
    references_uri: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChunkedReferencesSummary(ReferencesSummary):
    """A ``ReferencesSummary`` plus the files the references were split into."""

    chunks: list[ReferencesChunk] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "chunks": [chunk.to_dict() for chunk in self.chunks]}


class _ChunkWriter(AtomicJSONLWriter):
    """An atomic writer whose temporary file can be closed early and published later."""

    def close_temporary(self) -> None:
        self._flush()
        self._handle.close()
        self._handle = None

    def commit(self) -> str:
        if self._handle is not None:
            self.close_temporary()
        self.temporary.rename(self.destination)
        self._committed = True
        return self.destination.as_uri()

    def abort_unless_committed(self) -> None:
        if not self._committed:
            self.abort()


def chunk_path(destination: ObjectStoragePath, index: int) -> ObjectStoragePath:
    """``refs.jsonl`` -> ``refs.chunk-0003.jsonl`` (the suffix kept, so readers see the same format)."""
    suffix = destination.suffix
    stem = destination.name[: -len(suffix)] if suffix else destination.name
    return destination.with_name(f"{stem}{CHUNK_INFIX}{index:0{CHUNK_DIGITS}d}{suffix}")


def write_chunked_references(
    objects: Iterable[StoredObject],
    sign: Signer,
    destination: ObjectStoragePath,
    *,
    max_objects_per_file: int,
    max_files: int,
    source: str,
    media_type: MediaType,
    window: SelectionWindow,
    expiry: EffectiveExpiry,
    record: RecordIndex | None = None,
    also_skipped: Iterable[tuple[str, str]] = (),
) -> ChunkedReferencesSummary:
    """Write the selected objects as references files of at most ``max_objects_per_file`` lines each.

    Raises ``TooManyChunksError`` as soon as the listing would need more than ``max_files`` files,
    before anything is published. With ``record`` objects another window processed are skipped.
    """
    if max_objects_per_file < 1 or max_files < 1:
        raise ValueError(
            f"max_objects_per_file and max_files must be >= 1; got {max_objects_per_file}, {max_files}"
        )
    summary = ChunkedReferencesSummary(source=source, media_type=media_type, expiry=expiry)
    writers: list[_ChunkWriter] = []
    # Skipped objects and the content sent are listed once for the whole window, next to the configured name.
    with (
        AtomicJSONLWriter(skipped_path(destination)) as skips,
        closing_signer(sign),
        content_filter(record, destination, summary) as content,
    ):
        summary.on_skip = skips.write
        try:
            _write_chunks(
                objects,
                sign,
                destination,
                writers,
                summary,
                max_objects_per_file,
                max_files,
                window,
                content,
                also_skipped,
            )
        finally:
            summary.on_skip = None
            for writer in writers:
                writer.abort_unless_committed()
        # Kept even when nothing was selected: a window of skipped objects only still accounts for them.
        if summary.skipped_count:
            summary.skipped_uri = skips.commit()
        else:
            skips.abort()
    summary.references_uri = summary.chunks[0].references_uri if len(summary.chunks) == 1 else None
    return summary


def _write_chunks(
    objects: Iterable[StoredObject],
    sign: Signer,
    destination: ObjectStoragePath,
    writers: list[_ChunkWriter],
    summary: ChunkedReferencesSummary,
    max_objects_per_file: int,
    max_files: int,
    window: SelectionWindow,
    content: ContentFilter | None,
    also_skipped: Iterable[tuple[str, str]],
) -> None:
    media_type, source = summary.media_type, summary.source
    selected = select_objects(
        objects,
        media_type=media_type,
        window=window,
        summary=summary,
        content=content,
        also_skipped=also_skipped,
    )
    for name, url in signed_references(selected, sign):
        if summary.count % max_objects_per_file == 0:
            if len(writers) == max_files:
                raise TooManyChunksError(
                    f"the window holds more than {max_files} x {max_objects_per_file:,} = "
                    f"{max_files * max_objects_per_file:,} {media_type} under {source}: raise "
                    "max_batch_objects in astro.yaml or Airflow's [core] max_map_length "
                    f"(now {max_files}), or shorten the schedule interval"
                )
            if writers:
                writers[-1].close_temporary()
            # Chunk 0 is written under a chunk name too; it is renamed if it stays alone.
            writer = _ChunkWriter(chunk_path(destination, len(writers)))
            writer.__enter__()
            writers.append(writer)
        writers[-1].write({"name": name, "url": url})
        summary.count += 1
    if len(writers) == 1:
        writers[0].destination = destination
    for index, writer in enumerate(writers):
        count = min(max_objects_per_file, summary.count - index * max_objects_per_file)
        summary.chunks.append(ReferencesChunk(index, writer.commit(), count))


def planned_chunks(count: int, max_per_file: int) -> list[dict[str, Any]]:
    """The chunks ``count`` objects would fill, in the order they are written, with no file behind
    them (a dry run): ``[{"index", "references_uri": None, "count"}]``."""
    return [
        {"index": index, "references_uri": None, "count": min(max_per_file, count - index * max_per_file)}
        for index in range(-(-count // max_per_file) if count > 0 else 0)
    ]
