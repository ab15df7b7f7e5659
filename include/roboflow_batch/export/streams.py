"""File-like views over streamed bytes, so a download is hashed, parsed and written in one pass."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from typing import BinaryIO, Protocol

CHUNK_SIZE = 1024 * 1024
# Most exported files are a few KiB: a fresh megabyte per file would cost more than the copy.
_DRAIN_BUFFER = 256 * 1024
_buffers = threading.local()


class _Readable(Protocol):
    def readinto(self, buffer: memoryview) -> int | None: ...


class ChunkStream(io.RawIOBase):
    """A readable stream over an iterator of byte chunks (an HTTP response body)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class TeeReader(io.RawIOBase):
    """Reads from ``source``; every byte read is also written to ``sink``, hashed and counted."""

    def __init__(self, source: _Readable, sink: BinaryIO) -> None:
        self._source = source
        self._sink = sink
        self.sha256 = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = self._source.readinto(buffer) or 0
        if count:
            view = memoryview(buffer)[:count]
            self._sink.write(view)
            self.sha256.update(view)
            self.size += count
        return count

    def drain(self) -> None:
        """Read (and so write and hash) whatever is left, through this thread's reusable buffer."""
        buffer = getattr(_buffers, "drain", None)
        if buffer is None:
            buffer = _buffers.drain = memoryview(bytearray(_DRAIN_BUFFER))
        while self.readinto(buffer):
            pass
