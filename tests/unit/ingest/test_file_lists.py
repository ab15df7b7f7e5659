"""File lists of a local window: split by max_batch_objects, read back with every name checked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from include.roboflow_batch.ingest.file_lists import FileListError, read_file_list, write_file_lists
from include.roboflow_batch.ingest.local_files import discover_files


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    directory = tmp_path / "drop"
    directory.mkdir()
    for number in range(7):
        (directory / f"frame-{number}.jpg").write_bytes(b"\xff\xd8 image")
    (directory / "notes.txt").write_text("not an image")
    return directory


def test_a_window_over_the_limit_is_split_into_lists_that_read_back_to_every_file(
    drop: Path, tmp_path: Path
) -> None:
    files = discover_files(drop, "images")

    chunks = write_file_lists(files, tmp_path / "state", max_objects_per_file=3, max_files=10)

    assert [(chunk["index"], chunk["count"]) for chunk in chunks] == [(0, 3), (1, 3), (2, 1)]
    assert [Path(chunk["references_uri"].removeprefix("file://")).name for chunk in chunks] == [
        "files.chunk-0000.jsonl",
        "files.chunk-0001.jsonl",
        "files.chunk-0002.jsonl",
    ]
    read_back = [read_file_list(chunk["references_uri"], drop, "images") for chunk in chunks]
    assert [item.name for part in read_back for item in part] == [item.name for item in files]
    assert [item.size for item in read_back[2]] == [len(b"\xff\xd8 image")]


def test_rewriting_a_window_gives_the_same_lists_and_no_leftovers(drop: Path, tmp_path: Path) -> None:
    files = discover_files(drop, "images")
    first = write_file_lists(files, tmp_path / "state", max_objects_per_file=3, max_files=10)
    contents = [Path(c["references_uri"].removeprefix("file://")).read_text() for c in first]

    again = write_file_lists(files, tmp_path / "state", max_objects_per_file=3, max_files=10)

    assert again == first
    assert [Path(c["references_uri"].removeprefix("file://")).read_text() for c in again] == contents
    assert sorted(path.name for path in (tmp_path / "state").iterdir()) == [
        f"files.chunk-000{index}.jsonl" for index in range(3)
    ]


def test_a_window_within_the_limit_is_one_list(drop: Path, tmp_path: Path) -> None:
    [chunk] = write_file_lists(discover_files(drop, "images"), tmp_path / "state", 100, 10)

    assert chunk["references_uri"].endswith("/state/files.jsonl")
    assert chunk["count"] == 7


def test_more_lists_than_airflow_can_map_is_refused_naming_both_settings(drop: Path, tmp_path: Path) -> None:
    with pytest.raises(FileListError, match=r"max_batch_objects.*max_map_length allows \(2\)"):
        write_file_lists(
            discover_files(drop, "images"), tmp_path / "state", max_objects_per_file=3, max_files=2
        )

    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (json.dumps("../secrets.jpg"), "not a plain file name"),
        (json.dumps("sub/frame-0.jpg"), "not a plain file name"),
        (json.dumps(".."), "not a plain file name"),
        ("frame-0.jpg", "not a plain file name"),
        (json.dumps(["frame-0.jpg"]), "not a plain file name"),
        (json.dumps("notes.txt"), "is not one of the images"),
        (json.dumps("frame-9.jpg"), "is gone from"),
    ],
)
def test_a_damaged_list_names_the_list_and_the_line(
    drop: Path, tmp_path: Path, line: str, problem: str
) -> None:
    listing = tmp_path / "files.jsonl"
    listing.write_text(json.dumps("frame-1.jpg") + "\n" + line + "\n")

    with pytest.raises(FileListError, match=rf"{listing} line 2: .*{problem}"):
        read_file_list(listing.as_uri(), drop, "images")


def test_a_missing_list_is_named(drop: Path, tmp_path: Path) -> None:
    with pytest.raises(FileListError, match=r"files\.jsonl cannot be read"):
        read_file_list(str(tmp_path / "files.jsonl"), drop, "images")
