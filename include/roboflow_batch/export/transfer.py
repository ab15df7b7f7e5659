"""Moving one listed source file (raw result or archive) from its signed URL to the destination in one pass.

The response body is streamed straight to the final place: a raw file into its atomic writer, an
archive member by member into theirs. The sha256 and size are computed and result rows counted from
the same bytes as they pass, so nothing is downloaded to a scratch folder, copied or read again.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Protocol

from include.roboflow_batch.export.archives import ArchiveLink, extract_stream, is_archive
from include.roboflow_batch.export.names import check_relative_name
from include.roboflow_batch.export.results import ResultCount, count_results, result_format
from include.roboflow_batch.export.streams import CHUNK_SIZE, ChunkStream, TeeReader


class UnreadableResultError(ValueError):
    """A result file (CSV/JSONL) could not be parsed; the message names the file and line."""


if TYPE_CHECKING:
    from include.roboflow_batch.export.progress import ProgressLog


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
        return check_relative_name(f"{self.folder}/{name}" if self.folder else name, "destination path")


@dataclass
class SourceResult:
    files: list[dict[str, Any]] = field(default_factory=list)
    written: int = 0
    counts: ResultCount = field(default_factory=ResultCount)


class SourceTransfer:
    """Transfers sources to ``dest`` and records each completed one in ``progress``."""

    def __init__(
        self,
        dest: Target,
        progress: ProgressLog | None,
        name_field: str | None = None,
    ) -> None:
        self.dest = dest
        self.progress = progress
        self.name_field = name_field

    def __call__(self, client: StreamingClient, source: SourceFile) -> SourceResult:
        result: SourceResult = client.stream_download(
            source.download_url, lambda chunks: self._consume(source, chunks)
        )
        if self.progress is not None:
            self.progress.record(source.key, result.files)
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
        body = ChunkStream(chunks)
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
