"""Streamed archive extraction refuses every member that could escape the target or is not a plain file."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from include.roboflow_batch.export.archives import (
    ArchiveLink,
    UnsafeArchiveError,
    archive_stem,
    extract_stream,
    is_archive,
)


def extract(archive: Path, name: str | None = None) -> tuple[dict[str, bytes], list[ArchiveLink]]:
    """Members handed out by the streamed extraction, in order, and the links it returned."""
    written: dict[str, bytes] = {}
    with archive.open("rb") as stream:
        links = extract_stream(
            stream, name or archive.name, lambda path, reader: written.__setitem__(path, reader.read())
        )
    return written, links


def tar_bytes(members: list[tarfile.TarInfo], contents: dict[str, bytes], mode: str = "w:gz") -> bytes:
    """A tar archive of ``members``; a member named in ``contents`` holds those bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for info in members:
            data = contents.get(info.name)
            if data is not None:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            else:
                archive.addfile(info)
    return buffer.getvalue()


def write_tar(path: Path, members: list[tarfile.TarInfo], contents: dict[str, bytes] | None = None) -> Path:
    path.write_bytes(tar_bytes(members, contents or {}))
    return path


def regular(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def folder(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return info


def test_extracts_nested_regular_files(tmp_path: Path) -> None:
    archive = write_tar(
        tmp_path / "results.tar.gz",
        [regular("results/shard-1.jsonl"), regular("top.csv")],
        {"results/shard-1.jsonl": b'{"a": 1}\n', "top.csv": b"x\n1\n"},
    )
    written, links = extract(archive)
    assert written == {"results/shard-1.jsonl": b'{"a": 1}\n', "top.csv": b"x\n1\n"}
    assert links == []


def test_leading_dot_slash_is_dropped(tmp_path: Path) -> None:
    archive = write_tar(
        tmp_path / "a.tar", [folder("."), folder("./s1"), regular("./s1/r.jsonl")], {"./s1/r.jsonl": b"{}\n"}
    )
    assert extract(archive)[0] == {"s1/r.jsonl": b"{}\n"}


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (regular("/etc/evil"), "absolute path"),
        (regular("../evil.txt"), "'..'"),
        (regular("ok/../../evil.txt"), "'..'"),
        (link("escape", "../../etc/passwd"), "link pointing outside"),
        (link("escape", "/etc/passwd"), "link pointing outside"),
        (link("hard", "../outside", tarfile.LNKTYPE), "link pointing outside"),
        (device("null"), "device"),
        (regular("a\\..\\..\\evil.txt"), "backslash"),
        (regular("a//evil.txt"), "empty path segment"),
        (regular("a/./evil.txt"), "'.' path segment"),
        (regular("C:/evil.txt"), "absolute path"),
        (regular("a/evil\n.txt"), "control character"),
        (link("alias", "a\\\\b"), "backslash"),
    ],
)
def test_unsafe_members_are_refused_before_their_bytes_are_handed_out(
    tmp_path: Path, member: tarfile.TarInfo, reason: str
) -> None:
    contents = {member.name: b"pwned"} if member.isfile() else {}
    archive = write_tar(
        tmp_path / "evil.tar.gz", [regular("fine.txt"), member], {"fine.txt": b"ok", **contents}
    )
    written: dict[str, bytes] = {}
    with pytest.raises(UnsafeArchiveError, match=reason) as refused, archive.open("rb") as stream:
        extract_stream(stream, "evil.tar.gz", lambda path, reader: written.__setitem__(path, reader.read()))
    assert "evil.tar.gz" in str(refused.value)
    assert list(written) == ["fine.txt"]  # the hostile member's bytes were never handed out


def test_internal_symlink_is_allowed(tmp_path: Path) -> None:
    archive = write_tar(
        tmp_path / "a.tar",
        [regular("data/real.jsonl"), link("data/alias.jsonl", "real.jsonl")],
        {"data/real.jsonl": b"{}\n"},
    )
    written, links = extract(archive)
    assert written == {"data/real.jsonl": b"{}\n"}
    assert links == [ArchiveLink("data/alias.jsonl", "data/real.jsonl")]


def test_corrupt_archive_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "broken.tar.gz"
    bogus.write_bytes(b"definitely not gzip")
    with pytest.raises(ValueError, match=r"broken\.tar\.gz is not a readable tar archive"):
        extract(bogus)


def test_archive_names() -> None:
    assert is_archive("x.tar.gz") and is_archive("x.TAR") and is_archive("x.tgz")
    assert not is_archive("x.jsonl")
    assert archive_stem("shard-0001.tar.gz") == "shard-0001"
