"""Local content hashes: the cache is trusted only while path, inode, size and both times agree."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from include.roboflow_batch.content import file_hashes
from include.roboflow_batch.content.file_hashes import FileHashCache
from include.roboflow_batch.content.identity import content_digest, local_content
from include.roboflow_batch.ingest.local_files import LocalFile


def local(path: Path) -> LocalFile:
    info = path.stat()
    return LocalFile(path=path, size=info.st_size, mtime=info.st_mtime)


def expected(data: bytes) -> bytes:
    return content_digest(local_content(hashlib.sha256(data).hexdigest()), len(data))


def settle(path: Path) -> None:
    """Make the file's times old enough to be cached (a write in the same clock tick is not)."""
    old = time.time() - 3600
    os.utime(path, (old, old))


@pytest.fixture
def cache_uri(tmp_path: Path) -> ObjectStoragePath:
    return ObjectStoragePath(f"file://{tmp_path}/state/file-hashes.npz")


@pytest.fixture(autouse=True)
def no_racy_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # utime() moves the modification time back but the change time stays "now": only the ctime
    # guard would keep such files out of the cache. Tests that need it restore the margin.
    monkeypatch.setattr(file_hashes, "RACY_SECONDS", -1.0)


def test_same_bytes_same_digest_and_unchanged_files_are_not_read_again(
    tmp_path: Path, cache_uri: ObjectStoragePath
) -> None:
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    a.write_bytes(b"same bytes")
    b.write_bytes(b"same bytes")
    first = FileHashCache(cache_uri).load()
    assert first.digests([local(a), local(b)]) == [expected(b"same bytes")] * 2
    assert (first.reads, first.hits) == (2, 0)
    first.save()

    second = FileHashCache(cache_uri).load()
    assert second.digests([local(a), local(b)]) == [expected(b"same bytes")] * 2
    assert (second.reads, second.hits) == (0, 2)


def test_a_rewrite_that_restores_size_and_modification_time_is_read_again(
    tmp_path: Path, cache_uri: ObjectStoragePath
) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(b"version 1")
    settle(path)
    cache = FileHashCache(cache_uri).load()
    cache.digests([local(path)])
    cache.save()
    mtime = path.stat().st_mtime_ns
    path.write_bytes(b"version 2")  # same size
    os.utime(path, ns=(mtime, mtime))  # and the old modification time: only the change time moved
    again = FileHashCache(cache_uri).load()
    assert again.digests([local(path)]) == [expected(b"version 2")]
    assert again.reads == 1


def test_files_written_moments_ago_are_hashed_but_not_cached(
    tmp_path: Path, cache_uri: ObjectStoragePath, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_hashes, "RACY_SECONDS", 2.0)
    path = tmp_path / "fresh.jpg"
    path.write_bytes(b"just arrived")
    cache = FileHashCache(cache_uri).load()
    assert cache.digests([local(path)]) == [expected(b"just arrived")]
    cache.save()
    again = FileHashCache(cache_uri).load()
    again.digests([local(path)])
    assert again.reads == 1  # read again: a write in the same clock tick would have gone unnoticed


def test_a_vanished_file_has_no_digest(tmp_path: Path, cache_uri: ObjectStoragePath) -> None:
    path = tmp_path / "gone.jpg"
    path.write_bytes(b"x")
    item = local(path)
    path.unlink()
    assert FileHashCache(cache_uri).load().digests([item]) == [None]


def test_a_damaged_cache_only_means_reading_again(tmp_path: Path, cache_uri: ObjectStoragePath) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "file-hashes.npz").write_bytes(b"garbage")
    path = tmp_path / "a.jpg"
    path.write_bytes(b"x")
    cache = FileHashCache(cache_uri).load()
    assert cache.digests([local(path)]) == [expected(b"x")] and cache.reads == 1


def test_a_path_whose_key_ends_in_zero_bytes_is_still_found(
    tmp_path: Path, cache_uri: ObjectStoragePath, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(b"x")
    monkeypatch.setattr(file_hashes, "_path_key", lambda _: b"\x01" * 14 + b"\x00\x00")
    first = FileHashCache(cache_uri).load()
    first.digests([local(path)])
    first.save()
    again = FileHashCache(cache_uri).load()
    again.digests([local(path)])
    assert (again.hits, again.reads) == (1, 0)
