"""Archives extracted in worker processes land exactly as when extracted in the download thread."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from include.roboflow_batch.export.archives import UnsafeArchiveError
from include.roboflow_batch.export.extract_workers import ArchiveExtractors
from include.roboflow_batch.export.local_folder import LocalFolder
from include.roboflow_batch.export.transfer import SourceFile, SourceTransfer


def _archive(members: dict[str, bytes], link: tuple[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link[0])
            info.type, info.linkname = tarfile.SYMTYPE, link[1]
            archive.addfile(info)
    return buffer.getvalue()


class _Client:
    """Streams a fixed body in small chunks, like a signed-URL download."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream_download(self, url: str, consume: Callable[[Iterator[bytes]], Any]) -> Any:
        return consume(iter([self.body[i : i + 700] for i in range(0, len(self.body), 700)]))


MEMBERS = {
    "out/results.jsonl": b'{"image": "a.png", "n": 1}\n{"image": "b.png", "n": 2}\n',
    "out/images/a.png": bytes(range(256)) * 40,
}


def test_worker_extraction_matches_the_thread_and_counts_rows(tmp_path: Path) -> None:
    body = _archive(MEMBERS, link=("out/copy.png", "images/a.png"))
    source = SourceFile("k1", "part-1.tar.gz", "http://127.0.0.1/signed", "export")
    here = SourceTransfer(LocalFolder(str(tmp_path / "thread")), None)(_Client(body), source)
    with ArchiveExtractors(str(tmp_path / "workers"), None, workers=1) as extractors:
        there = SourceTransfer(LocalFolder(str(tmp_path / "workers")), None, None, extractors)(
            _Client(body), source
        )

    assert sorted(f["path"] for f in there.files) == [
        "export/out/copy.png",
        "export/out/images/a.png",
        "export/out/results.jsonl",
    ]
    assert there.files == here.files and there.written == here.written == 3
    assert there.counts.rows == 2
    for entry in there.files:
        data = (tmp_path / "workers" / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert not [p for p in (tmp_path / "workers").rglob("*") if p.name.endswith(".part")]


def test_unsafe_member_in_a_worker_names_the_archive_and_writes_nothing(tmp_path: Path) -> None:
    body = _archive({"ok.txt": b"fine", "../escape.txt": b"bad"})
    source = SourceFile("k2", "evil.tar.gz", "http://127.0.0.1/signed", "")
    with ArchiveExtractors(str(tmp_path), None, workers=1) as extractors:
        transfer = SourceTransfer(LocalFolder(str(tmp_path)), None, None, extractors)
        with pytest.raises(UnsafeArchiveError, match=r"evil\.tar\.gz.*\.\."):
            transfer(_Client(body), source)
    assert list(tmp_path.rglob("*")) == []
