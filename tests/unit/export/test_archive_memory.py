"""Archives held in memory: the same files, digests and row counts as the streamed extraction, every
member checked before anything is written, and a fall-back to streaming when an archive is too big."""

from __future__ import annotations

import bz2
import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from include.roboflow_batch.export import archive_memory, source_transfer
from include.roboflow_batch.export.archive_extraction import extract_in_memory
from include.roboflow_batch.export.archive_memory import TooBigForMemory, read_archive
from include.roboflow_batch.export.archives import ArchiveLink, UnsafeArchiveError
from include.roboflow_batch.export.local_folder import LocalFolder
from include.roboflow_batch.export.results import UnreadableResultError
from include.roboflow_batch.export.source_transfer import SourceFile, SourceTransfer
from tests.unit.export.test_archives import device, folder, link, regular, tar_bytes

JSONL = b'{"file_name": "a.png", "v": 1}\n{"file_name": "b.png", "v": 2}\n'
# A quoted line break inside a CSV cell is one row, not two.
CSV = b'file_name,note\nc.png,"two\nlines"\nd.png,plain\n'


def sample() -> bytes:
    return tar_bytes(
        [
            folder("."),
            folder("./results"),
            regular("./results/rows.jsonl"),
            regular("results/rows.csv"),
            regular("images/x.png"),
            link("images/alias.png", "x.png"),
        ],
        {"./results/rows.jsonl": JSONL, "results/rows.csv": CSV, "images/x.png": b"\x89PNG-bytes"},
    )


class Client:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream_download(self, url: str, consume: object) -> object:
        chunks = [self.body[i : i + 7000] for i in range(0, len(self.body), 7000)] or [b""]
        return consume(iter(chunks))  # type: ignore[operator]


def transfer_one(root: Path, body: bytes, name: str = "shard-1.tar.gz") -> source_transfer.SourceResult:
    source = SourceFile(key=name, file_name=name, download_url="http://127.0.0.1/x", folder="out/shard-1")
    return SourceTransfer(LocalFolder(str(root)))(Client(body), source)


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_members_are_checked_slices_of_the_archive() -> None:
    contents = read_archive("shard-1.tar.gz", sample())
    assert {path: bytes(body) for path, body in contents.files.items()} == {
        "results/rows.jsonl": JSONL,
        "results/rows.csv": CSV,
        "images/x.png": b"\x89PNG-bytes",
    }
    assert contents.links == [ArchiveLink("images/alias.png", "images/x.png")]


def test_held_and_streamed_extraction_write_the_same_files_digests_and_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = transfer_one(tmp_path / "held", sample())
    monkeypatch.setattr(source_transfer, "MAX_IN_MEMORY_ARCHIVE", 100)  # too big to hold: streamed
    streamed = transfer_one(tmp_path / "streamed", sample())

    assert files_under(tmp_path / "held") == files_under(tmp_path / "streamed")
    assert sorted(held.files, key=lambda f: f["path"]) == sorted(streamed.files, key=lambda f: f["path"])
    assert held.written == streamed.written == 4
    assert held.counts == streamed.counts
    assert held.counts.rows == 4  # two JSONL rows, two CSV rows (one spans two lines)
    alias = next(f for f in held.files if f["path"] == "out/shard-1/images/alias.png")
    assert alias["sha256"] == hashlib.sha256(b"\x89PNG-bytes").hexdigest()


def test_archive_expanding_beyond_the_memory_limit_is_streamed_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = sample()
    monkeypatch.setattr(archive_memory, "MAX_EXTRACTED_BYTES", 1024)
    with pytest.raises(TooBigForMemory):
        read_archive("shard-1.tar.gz", body)
    result = transfer_one(tmp_path, body)
    assert result.written == 4
    assert files_under(tmp_path)["out/shard-1/results/rows.jsonl"] == JSONL


def test_other_compressions_and_plain_tar_are_extracted(tmp_path: Path) -> None:
    plain = tar_bytes([regular("r.jsonl")], {"r.jsonl": JSONL}, mode="w")
    assert transfer_one(tmp_path / "tar", plain, "shard-1.tar").counts.rows == 2
    compressed = bz2.compress(plain)  # tarfile's streamed reader handles it
    assert transfer_one(tmp_path / "bz2", compressed, "shard-1.tar").counts.rows == 2


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (regular("/etc/evil"), "absolute path"),
        (regular("ok/../../evil.txt"), "'..'"),
        (link("escape", "../../etc/passwd"), "link pointing outside"),
        (device("null"), "device"),
        (regular("a\\..\\evil.txt"), "backslash"),
        (folder("a//b"), "empty path segment"),
    ],
)
def test_a_hostile_member_fails_the_archive_before_any_byte_is_written(
    tmp_path: Path, member: tarfile.TarInfo, reason: str
) -> None:
    contents = {"fine.txt": b"ok", "later.txt": b"ok"}
    if member.isfile():
        contents[member.name] = b"pwned"
    body = tar_bytes([regular("fine.txt"), member, regular("later.txt")], contents)
    with pytest.raises(UnsafeArchiveError, match=reason) as refused:
        extract_in_memory(LocalFolder(str(tmp_path)), "out", "evil.tar.gz", body, None)
    assert "evil.tar.gz" in str(refused.value) and repr(member.name) in str(refused.value)
    assert list(tmp_path.rglob("*")) == []  # not even the safe member, nor a hidden part file


def test_unreadable_result_file_fails_before_anything_is_written(tmp_path: Path) -> None:
    body = tar_bytes([regular("a.png"), regular("rows.jsonl")], {"a.png": b"x", "rows.jsonl": b"{broken\n"})
    with pytest.raises(UnreadableResultError, match=r"out/rows\.jsonl, line 1"):
        extract_in_memory(LocalFolder(str(tmp_path)), "out", "shard.tar.gz", body, None)
    assert list(tmp_path.rglob("*")) == []


def test_truncated_and_corrupt_archives_are_named(tmp_path: Path) -> None:
    whole = tar_bytes([regular("big.bin")], {"big.bin": b"z" * 5000}, mode="w")
    with pytest.raises(ValueError, match=r"cut\.tar"):
        read_archive("cut.tar", whole[:2048])
    with pytest.raises(ValueError, match=r"broken\.tar\.gz is not a readable tar archive"):
        read_archive("broken.tar.gz", b"\x1f\x8b" + b"not really gzip")


def test_a_repeated_member_lands_once_with_its_last_bytes(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for data in (b"first", b"second"):
            info = tarfile.TarInfo("same.txt")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    result = extract_in_memory(LocalFolder(str(tmp_path)), "out", "dup.tar.gz", buffer.getvalue(), None)
    assert [f["path"] for f in result.files] == ["out/same.txt"]
    assert files_under(tmp_path) == {"out/same.txt": b"second"}


def test_link_to_a_missing_member_is_refused(tmp_path: Path) -> None:
    body = tar_bytes([link("alias.png", "missing.png")], {})
    with pytest.raises(ValueError, match=r"not a file of the archive"):
        extract_in_memory(LocalFolder(str(tmp_path)), "out", "links.tar.gz", body, None)
    assert list(tmp_path.rglob("*")) == []


def test_files_of_an_archive_appear_together_or_not_at_all(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "blocker").write_bytes(b"a file where a folder is needed")
    files = [("out/a.txt", memoryview(b"a")), ("out/blocker/b.txt", memoryview(b"b"))]
    with pytest.raises(OSError):
        LocalFolder(str(tmp_path)).write_files(files)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["blocker"]  # no a.txt, no .part


def test_an_archive_folder_appears_whole_and_leaves_no_hidden_folder(tmp_path: Path) -> None:
    files = [("b/arch/x.png", memoryview(b"x")), ("b/arch/sub/y.jsonl", memoryview(b"{}\n"))]
    LocalFolder(str(tmp_path)).write_folder("b/arch", files)
    assert files_under(tmp_path) == {"b/arch/x.png": b"x", "b/arch/sub/y.jsonl": b"{}\n"}
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["arch"]


def test_files_join_an_existing_archive_folder_one_by_one(tmp_path: Path) -> None:
    (tmp_path / "b" / "arch").mkdir(parents=True)
    (tmp_path / "b" / "arch" / "kept.txt").write_bytes(b"earlier")
    LocalFolder(str(tmp_path)).write_folder("b/arch", [("b/arch/x.png", memoryview(b"new"))])
    assert files_under(tmp_path) == {"b/arch/kept.txt": b"earlier", "b/arch/x.png": b"new"}
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["arch"]


def test_a_failed_archive_folder_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from include.roboflow_batch.export import local_folder

    written: list[str] = []

    def fail_on_second(path: str, body: memoryview) -> None:
        if written:
            raise OSError(28, "No space left on device")
        written.append(path)
        Path(path).write_bytes(bytes(body))

    monkeypatch.setattr(local_folder, "_write_new", fail_on_second)
    files = [("b/arch/x.png", memoryview(b"x")), ("b/arch/y.png", memoryview(b"y"))]
    with pytest.raises(OSError, match="No space"):
        LocalFolder(str(tmp_path)).write_folder("b/arch", files)
    assert list((tmp_path / "b").iterdir()) == []
