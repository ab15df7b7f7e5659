"""Moving one listed source file (raw result or archive) from its signed URL to the destination in one pass.

The response body is streamed straight to the final place: a raw file into its atomic writer. An
archive up to :data:`MAX_IN_MEMORY_ARCHIVE` is held in memory and extracted at once; a larger one is
read as a tar stream, member by member into their writers. The sha256 and size are computed
and result rows counted from the same bytes, so nothing is downloaded to a scratch folder, copied or
read again.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, Protocol

from include.roboflow_batch.export.archive_extraction import extract_in_memory
from include.roboflow_batch.export.archive_memory import MAX_IN_MEMORY_ARCHIVE, TooBigForMemory
from include.roboflow_batch.export.archives import ArchiveLink, extract_stream, is_archive
from include.roboflow_batch.export.names import path_in_folder
from include.roboflow_batch.export.results import (
    ResultCount,
    SourceResult,
    UnreadableResultError,
    count_results,
    result_format,
)
from include.roboflow_batch.export.streams import CHUNK_SIZE, ChunkStream, TeeReader

__all__ = ["SourceFile", "SourceResult", "SourceTransfer", "UnreadableResultError"]


class StreamingClient(Protocol):
    def stream_download(self, url: str, consume: Any) -> Any: ...


class Staged(Protocol):
    relpath: str
    handle: BinaryIO

    def done_writing(self) -> None: ...
    def commit(self) -> None: ...
    def discard(self) -> None: ...


class Target(Protocol):
    """Where transferred files go: a :class:`Destination` or a :class:`LocalFolder`."""

    def stage(self, relpath: str) -> Any: ...
    def write_folder(self, folder: str, files: Sequence[tuple[str, memoryview]]) -> None: ...
    def copy_within(self, source: str, target: str) -> None: ...
    def iter_lines(self, relpath: str) -> Iterator[str]: ...


@dataclass(frozen=True)
class SourceFile:
    """One file listed in an output batch, and the folder (relative to the destination) it lands in."""

    key: str
    file_name: str
    download_url: str = field(repr=False)
    folder: str

    def relpath(self, name: str) -> str:
        return path_in_folder(self.folder, name)


def _held(chunks: Iterator[bytes], limit: int) -> tuple[bytes | None, Iterator[bytes]]:
    """The whole body when it is at most ``limit`` bytes; else None and the chunks, none lost."""
    held: list[bytes] = []
    size = 0
    for chunk in chunks:
        held.append(chunk)
        size += len(chunk)
        if size > limit:
            return None, itertools.chain(held, chunks)
    return b"".join(held), iter(())


@dataclass(eq=False)
class SourceTransfer:
    """Transfers one source at a time to ``dest`` (safe to call from many threads at once)."""

    dest: Target
    name_field: str | None = None

    def __call__(self, client: StreamingClient, source: SourceFile) -> SourceResult:
        result: SourceResult = client.stream_download(
            source.download_url, lambda chunks: self._consume(source, chunks)
        )
        return result

    def _consume(self, source: SourceFile, chunks: Iterator[bytes]) -> SourceResult:
        # Built afresh per attempt: a retried download starts from a clean result.
        result = SourceResult()
        if not is_archive(source.file_name):
            relpath = source.relpath(source.file_name)
            single = self.dest.stage(relpath)
            try:
                if result_format(relpath):
                    self._write(single, ChunkStream(chunks), result)
                else:
                    self._write_plain(single, chunks, result)
                single.commit()
            finally:
                single.discard()
            return result
        data, chunks = _held(chunks, MAX_IN_MEMORY_ARCHIVE)
        if data is not None:
            try:
                return self._extract_held(source, data)
            except TooBigForMemory:
                chunks = iter((data,))  # expands too far to hold: streamed below instead
        return self._extract_streamed(source, ChunkStream(chunks))

    def _extract_held(self, source: SourceFile, data: bytes) -> SourceResult:
        return extract_in_memory(self.dest, source.folder, source.file_name, data, self.name_field)

    def _extract_streamed(self, source: SourceFile, body: ChunkStream) -> SourceResult:
        result = SourceResult()
        written: dict[str, dict[str, Any]] = {}
        staged: list[Staged] = []

        def write_member(path: str, reader: IO[bytes]) -> None:
            staged.append(self.dest.stage(source.relpath(path)))
            written[path] = self._write(staged[-1], reader, result)

        try:
            stream = io.BufferedReader(body, CHUNK_SIZE)
            links = extract_stream(stream, source.file_name, write_member)
            # Members become visible only once the whole archive has been read and found safe.
            for member in staged:
                member.commit()
        finally:
            for leftover in staged:
                leftover.discard()
        self._copy_links(source, links, written, result)
        return result

    def _copy_links(
        self,
        source: SourceFile,
        links: list[ArchiveLink],
        written: dict[str, dict[str, Any]],
        result: SourceResult,
    ) -> None:
        for link in links:
            target = written.get(link.target)
            if target is None:
                raise ValueError(
                    f"{source.file_name}: link {link.name!r} points to {link.target!r}, "
                    "which is not a file of the archive"
                )
            relpath = source.relpath(link.name)
            self.dest.copy_within(target["path"], relpath)
            result.files.append({**target, "path": relpath})
            result.written += 1
            self._count_existing(relpath, result)

    def _write(self, staged: Staged, reader: Any, result: SourceResult) -> dict[str, Any]:
        """Stream ``reader`` into ``staged``, hashing and counting rows on the way (not committed yet)."""
        relpath = staged.relpath
        fmt = result_format(relpath)
        tee = TeeReader(reader, staged.handle)
        if fmt:
            text = io.TextIOWrapper(io.BufferedReader(tee, CHUNK_SIZE), encoding="utf-8", newline="")
            result.counts.add(self._count(text, fmt, relpath))
            text.detach().detach()  # leave the tee open for the drain below
        tee.drain()
        staged.done_writing()
        entry = {"path": relpath, "size": tee.size, "sha256": tee.sha256.hexdigest()}
        result.files.append(entry)
        result.written += 1
        return entry

    @staticmethod
    def _write_plain(staged: Staged, chunks: Iterator[bytes], result: SourceResult) -> None:
        """Write a file that needs no parsing chunk by chunk, hashing on the way (not committed yet).

        Most exported files are small images: one chunk each, so no stream layers in between.
        """
        digest = hashlib.sha256()
        write = staged.handle.write
        size = 0
        for chunk in chunks:
            write(chunk)
            digest.update(chunk)
            size += len(chunk)
        staged.done_writing()
        result.files.append({"path": staged.relpath, "size": size, "sha256": digest.hexdigest()})
        result.written += 1

    def _count_existing(self, relpath: str, result: SourceResult) -> None:
        fmt = result_format(relpath)
        if fmt:
            result.counts.add(self._count(self.dest.iter_lines(relpath), fmt, relpath))

    def _count(self, lines: Any, fmt: str, relpath: str) -> ResultCount:
        try:
            return count_results(lines, fmt, relpath, self.name_field)
        except (ValueError, UnicodeDecodeError) as exc:
            raise UnreadableResultError(f"Unreadable result file {relpath}: {exc}") from exc
