"""SHA-256 of local files for the processed-content record, without reading unchanged files again.

A cache (``file-hashes.npz`` in the record's folder) keeps each file's hash under its path, device,
inode, size, modification and change time (nanoseconds). It is safe to trust: a write to a file
changes its change time, which no user call can set back (``touch -d`` sets the modification time
only), so the same six values mean the same bytes. Two exceptions are guarded against: a file that
changes while it is read (stat before and after differ: its hash is used once, not cached), and a
write in the same clock tick as the stat (timestamps are as coarse as a few milliseconds): a file
whose times are within :data:`RACY_SECONDS` of the read is hashed again next time.

The cache is a plain file rewritten by each run with the files that run saw: two runs at once may
lose each other's entries, which costs a re-read, never a wrong hash.
"""

from __future__ import annotations

import hashlib
import io
import os
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from include.roboflow_batch.content.identity import content_digest, local_content
from include.roboflow_batch.ingest.local_files import LocalFile

CACHE_NAME = "file-hashes.npz"
RACY_SECONDS = 2.0
HASH_THREADS = 4
_STAT_FIELDS = ("dev", "ino", "size", "mtime_ns", "ctime_ns")


@dataclass(frozen=True)
class _Stat:
    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> _Stat:
        info = os.stat(path)
        return cls(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _path_key(path: str) -> bytes:
    return hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=16).digest()


class FileHashCache:
    """Hashes known from an earlier run, keyed by path and checked against the file's stat."""

    def __init__(self, location: Any) -> None:
        self.location = location  # ObjectStoragePath of the cache file
        self._known: dict[bytes, tuple[_Stat, str]] = {}
        self._fresh: dict[bytes, tuple[_Stat, str]] = {}
        self.hits = 0
        self.reads = 0

    def load(self) -> FileHashCache:
        try:
            with self.location.open("rb") as handle:
                data = handle.read()
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                keys, hashes = archive["path"], archive["sha256"]
                stats = [archive[name] for name in _STAT_FIELDS]
        except FileNotFoundError:
            return self
        except (OSError, ValueError, KeyError):
            return self  # an unreadable cache is only a slower run: every file is read again
        # Row by row from the raw bytes: tolist() of a bytes array drops a key's trailing zero bytes.
        rows = np.ascontiguousarray(keys, dtype="S16").view(np.uint8).reshape(-1, 16)
        for index, key in enumerate(bytes(row) for row in rows):
            stat = _Stat(*(int(column[index]) for column in stats))
            self._known[key] = (stat, str(hashes[index]))
        return self

    def digests(self, files: Sequence[LocalFile]) -> list[bytes | None]:
        """The content digest of each file (None when it vanished), reading only what changed."""
        todo: list[int] = []
        found: list[bytes | None] = [None] * len(files)
        for index, item in enumerate(files):
            try:
                stat = _Stat.of(item.path)
            except OSError:
                continue
            key = _path_key(str(item.path))
            cached = self._known.get(key)
            if cached is not None and cached[0] == stat:
                self.hits += 1
                self._fresh[key] = cached
                found[index] = content_digest(local_content(cached[1]), stat.size)
            else:
                todo.append(index)
        with ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="content-hash") as pool:
            for index, result in zip(todo, pool.map(lambda i: _hash(files[i]), todo), strict=True):
                if result is None:
                    continue
                sha, stat, cacheable = result
                self.reads += 1
                if cacheable:
                    self._fresh[_path_key(str(files[index].path))] = (stat, sha)
                found[index] = content_digest(local_content(sha), stat.size)
        return found

    def save(self) -> None:
        """Publish the entries of this run's files (whole or not at all)."""
        entries = sorted(self._fresh.items())
        arrays: dict[str, Any] = {
            "path": np.array([key for key, _ in entries], dtype="S16"),
            "sha256": np.array([sha for _, (_, sha) in entries], dtype="U64"),
        }
        for name in _STAT_FIELDS:
            arrays[name] = np.array([getattr(stat, name) for _, (stat, _) in entries], dtype=np.int64)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        folder = self.location.parent
        if folder.protocol in ("file", "local", ""):
            folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{self.location.name}.{uuid.uuid4().hex}.partial"
        temporary.write_bytes(buffer.getvalue())
        temporary.rename(self.location)


def _hash(item: LocalFile) -> tuple[str, _Stat, bool] | None:
    """``(sha256 hex, stat after reading, cacheable)`` of a file's bytes; None when it vanished."""
    try:
        before = _Stat.of(item.path)
        started = time.time()
        with open(item.path, "rb") as handle:
            sha = hashlib.file_digest(handle, "sha256").hexdigest()
        after = _Stat.of(item.path)
    except OSError:
        return None
    settled = max(after.mtime_ns, after.ctime_ns) / 1e9 < started - RACY_SECONDS
    return sha, after, before == after and settled
