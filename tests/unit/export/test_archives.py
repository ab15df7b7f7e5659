"""Archive extraction refuses every member that could escape the target or is not a plain file."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from include.roboflow_batch.export.archives import UnsafeArchiveError, archive_stem, is_archive, safe_extract


def write_tar(path: Path, members: list[tarfile.TarInfo], contents: dict[str, bytes] | None = None) -> Path:
    contents = contents or {}
    with tarfile.open(path, "w:gz") as archive:
        for info in members:
            data = contents.get(info.name)
            if data is not None:
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            else:
                archive.addfile(info)
    return path


def regular(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


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
    files = safe_extract(archive, tmp_path / "out")
    assert [f.relative_to(tmp_path / "out").as_posix() for f in files] == ["results/shard-1.jsonl", "top.csv"]
    assert (tmp_path / "out/results/shard-1.jsonl").read_bytes() == b'{"a": 1}\n'


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
    ],
)
def test_unsafe_members_are_refused_and_nothing_is_written(
    tmp_path: Path, member: tarfile.TarInfo, reason: str
) -> None:
    contents = {member.name: b"pwned"} if member.isfile() else {}
    archive = write_tar(
        tmp_path / "evil.tar.gz", [regular("fine.txt"), member], {"fine.txt": b"ok", **contents}
    )
    target = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchiveError, match=reason) as refused:
        safe_extract(archive, target, "evil.tar.gz")
    assert "evil.tar.gz" in str(refused.value)
    # Checked before extraction: not even the harmless member was written, nothing escaped.
    assert not (target / "fine.txt").exists()
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "deep" / "evil.txt").exists()


def test_internal_symlink_is_allowed(tmp_path: Path) -> None:
    archive = write_tar(
        tmp_path / "a.tar",
        [regular("data/real.jsonl"), link("data/alias.jsonl", "real.jsonl")],
        {"data/real.jsonl": b"{}\n"},
    )
    files = safe_extract(archive, tmp_path / "out")
    assert {f.name for f in files} == {"real.jsonl", "alias.jsonl"}


def test_corrupt_archive_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "broken.tar.gz"
    bogus.write_bytes(b"definitely not gzip")
    with pytest.raises(ValueError, match=r"broken\.tar\.gz is not a readable tar archive"):
        safe_extract(bogus, tmp_path / "out")


def test_archive_names() -> None:
    assert is_archive("x.tar.gz") and is_archive("x.TAR") and is_archive("x.tgz")
    assert not is_archive("x.jsonl")
    assert archive_stem("shard-0001.tar.gz") == "shard-0001"
