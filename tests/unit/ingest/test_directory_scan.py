"""Every entry of a local window is either sent or reported with the reason it is not."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from include.roboflow_batch.ingest import local_files
from include.roboflow_batch.ingest.file_lists import write_skipped_list
from include.roboflow_batch.ingest.local_files import scan_directory
from include.roboflow_batch.media import MAX_IMAGE_BYTES
from include.roboflow_batch.references.window import SelectionWindow


def reasons(
    directory: Path, media_type: str = "images", **kwargs: object
) -> dict[str, tuple[str, int | None]]:
    scan = scan_directory(directory, media_type, **kwargs)  # type: ignore[arg-type]
    return {entry.key: (entry.reason, entry.size) for entry in scan.skipped}


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    directory = tmp_path / "drop"
    directory.mkdir()
    (directory / "ok.jpg").write_bytes(b"\xff\xd8 image")
    (directory / "notes.txt").write_text("text")
    (directory / "empty.png").write_bytes(b"")
    with open(directory / "huge.jpg", "wb") as huge:
        huge.truncate(MAX_IMAGE_BYTES + 1)
    (directory / "limit.jpg").write_bytes(b"")
    os.truncate(directory / "limit.jpg", MAX_IMAGE_BYTES)  # exactly at the limit: sent
    (directory / "clip.mp4").write_bytes(b"video")
    (directory / "nested").mkdir()
    (directory / "nested" / "inner.jpg").write_bytes(b"\xff\xd8")
    os.mkfifo(directory / "pipe.jpg")
    os.symlink(directory / "gone.jpg", directory / "dangling.jpg")
    (directory / ".DS_Store").write_bytes(b"\0")
    (directory / ".ok.jpg.Xa81bc").write_bytes(b"partial copy")  # an rsync temporary
    (directory / ".hidden.jpg").write_bytes(b"\xff\xd8 hidden image")
    return directory


def test_every_entry_is_sent_or_skipped_with_its_reason_and_size(drop: Path) -> None:
    scan = scan_directory(drop, "images")

    assert [item.name for item in scan.files] == [".hidden.jpg", "limit.jpg", "ok.jpg"]
    assert reasons(drop) == {
        "clip.mp4": ("unsupported-file-type", 5),
        "dangling.jpg": ("not-a-regular-file", None),
        "empty.png": ("empty-file", 0),
        "huge.jpg": ("file-size-limit-exceeded", MAX_IMAGE_BYTES + 1),
        "nested/": ("subdirectory-not-read", None),
        "notes.txt": ("unsupported-file-type", 4),
        "pipe.jpg": ("not-a-regular-file", None),
    }


def test_videos_have_no_size_limit_and_images_are_another_type(drop: Path) -> None:
    scan = scan_directory(drop, "videos")

    assert [item.name for item in scan.files] == ["clip.mp4"]
    assert reasons(drop, "videos")["huge.jpg"] == ("unsupported-file-type", MAX_IMAGE_BYTES + 1)
    assert ".hidden.jpg" not in reasons(drop, "videos")  # hidden and not a video: invisible


def test_a_file_the_worker_cannot_read_is_skipped(drop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_access = os.access
    monkeypatch.setattr(
        local_files.os,
        "access",
        lambda path, mode: not str(path).endswith("ok.jpg") and real_access(path, mode),
    )

    assert reasons(drop)["ok.jpg"] == ("unreadable-file", len(b"\xff\xd8 image"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_a_file_without_read_permission_is_skipped(drop: Path) -> None:
    (drop / "ok.jpg").chmod(0)

    assert reasons(drop)["ok.jpg"][0] == "unreadable-file"


def test_entries_outside_the_window_are_not_seen(drop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local_files, "arrival_time", lambda stat: stat.st_mtime)
    old = datetime(2026, 3, 1, 9, tzinfo=UTC).timestamp()
    for name in ("notes.txt", "huge.jpg", "nested"):
        os.utime(drop / name, (old, old))
    window = SelectionWindow(start=datetime(2026, 3, 1, 10, tzinfo=UTC), end=datetime(2099, 1, 1, tzinfo=UTC))

    seen = reasons(drop, window=window)

    assert not {"notes.txt", "huge.jpg", "nested/"} & set(seen)
    assert "empty.png" in seen


def test_the_projects_own_state_folder_inside_the_source_is_not_reported(drop: Path) -> None:
    assert "nested/" not in reasons(drop, ignore=[drop / "nested"])


def test_the_skipped_list_is_written_beside_the_file_lists_and_removed_when_empty(
    drop: Path, tmp_path: Path
) -> None:
    from include.roboflow_batch.export.skipped import read_skipped

    skipped = scan_directory(drop, "images").skipped
    uri = write_skipped_list(skipped, tmp_path / "state" / "b-1")

    assert uri == (tmp_path / "state" / "b-1" / "files.skipped.jsonl").as_uri()
    # The export reads it like a bucket listing's skipped list.
    assert [(e["key"], e["reason"], e.get("size")) for e in read_skipped(uri, None)] == [
        (entry.key, entry.reason, entry.size) for entry in skipped
    ]
    assert write_skipped_list([], tmp_path / "state" / "b-1") is None
    assert not (tmp_path / "state" / "b-1" / "files.skipped.jsonl").exists()
