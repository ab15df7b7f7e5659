"""The list_local_files task: the plan's window of a local directory, one file list per batch."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.roboflow_batch.content.record import ContentRecord, WindowRef
from include.roboflow_batch.content.window_content import read_sent_content
from include.roboflow_batch.ingest.file_lists import read_file_list
from include.roboflow_batch.pipeline.local_listing import LocalListingSpec, list_local_files


@pytest.fixture(autouse=True)
def arrival_by_mtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let tests place files in past windows with ``os.utime`` (the change time is always now)."""
    from include.roboflow_batch.ingest import local_files

    monkeypatch.setattr(local_files, "arrival_time", lambda stat: stat.st_mtime)


START, END = datetime(2026, 3, 1, 10, tzinfo=UTC), datetime(2026, 3, 1, 11, tzinfo=UTC)
PLAN = {
    "select": "interval",
    "window_start": START.isoformat(),
    "window_end": END.isoformat(),
    "batch_id": "b-1",
}


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    """Five images inside the window, one modified before it."""
    directory = tmp_path / "drop"
    directory.mkdir()
    for name, moment in [(f"in-{n}.jpg", START.replace(minute=n)) for n in range(5)] + [
        ("before.jpg", START.replace(hour=9))
    ]:
        path = directory / name
        path.write_bytes(b"\xff\xd8 image")
        os.utime(path, (moment.timestamp(), moment.timestamp()))
    return directory


def spec(drop: Path, tmp_path: Path, **changes: Any) -> LocalListingSpec:
    values: dict[str, Any] = {
        "directory": str(drop),
        "media_type": "images",
        "select": "interval",
        "state_directory": str(tmp_path / "state"),
        "max_objects_per_file": 2,
    }
    return LocalListingSpec(**{**values, **changes})  # type: ignore[typeddict-item]


def listed_names(summary: dict[str, Any], drop: Path) -> list[list[str]]:
    return [[f.name for f in read_file_list(c["references_uri"], drop, "images")] for c in summary["chunks"]]


def test_the_window_is_split_into_lists_under_the_runs_state_folder(drop: Path, tmp_path: Path) -> None:
    summary = list_local_files(spec(drop, tmp_path), PLAN)

    assert summary["count"] == 5
    assert summary["media_type"] == "images"
    assert [chunk["count"] for chunk in summary["chunks"]] == [2, 2, 1]
    assert listed_names(summary, drop) == [["in-0.jpg", "in-1.jpg"], ["in-2.jpg", "in-3.jpg"], ["in-4.jpg"]]
    assert {Path(c["references_uri"]).parent.name for c in summary["chunks"]} == {"b-1"}
    assert (tmp_path / "state" / "b-1").is_dir()


def test_select_all_in_astro_yaml_or_in_the_run_ignores_the_window(drop: Path, tmp_path: Path) -> None:
    configured = list_local_files(spec(drop, tmp_path, select="all", max_objects_per_file=10), PLAN)
    requested = list_local_files(spec(drop, tmp_path, max_objects_per_file=10), {**PLAN, "select": "all"})

    assert configured["count"] == requested["count"] == 6


def test_an_empty_window_skips_the_run(drop: Path, tmp_path: Path) -> None:
    later = {**PLAN, "window_start": END.isoformat(), "window_end": END.replace(hour=12).isoformat()}

    with pytest.raises(AirflowSkipException, match="no images in"):
        list_local_files(spec(drop, tmp_path), later)


def test_a_missing_directory_fails_naming_it(tmp_path: Path) -> None:
    with pytest.raises(AirflowFailException, match=r"gone.*does not exist"):
        list_local_files(spec(tmp_path / "gone", tmp_path), PLAN)


def test_more_lists_than_can_be_mapped_fails(
    drop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("include.roboflow_batch.operators.references.max_map_length", lambda: 2)

    with pytest.raises(AirflowFailException, match="max_map_length allows \\(2\\)"):
        list_local_files(spec(drop, tmp_path), PLAN)


def test_entries_not_sent_are_listed_beside_the_file_lists(drop: Path, tmp_path: Path) -> None:
    (drop / "notes.txt").write_text("text")
    (drop / "empty.jpg").write_bytes(b"")
    for name in ("notes.txt", "empty.jpg"):
        os.utime(drop / name, (START.timestamp(), START.timestamp()))

    summary = list_local_files(spec(drop, tmp_path, max_objects_per_file=10), PLAN)

    assert (summary["count"], summary["skipped_count"]) == (5, 2)
    assert summary["skipped"] == {"empty-file": 1, "unsupported-file-type": 1}
    assert summary["skipped_examples"] == [
        {"key": "empty.jpg", "reason": "empty-file"},
        {"key": "notes.txt", "reason": "unsupported-file-type"},
    ]
    assert summary["skipped_uri"] == (tmp_path / "state" / "b-1" / "files.skipped.jsonl").as_uri()


def test_a_window_of_skipped_entries_only_returns_no_chunk_instead_of_skipping(tmp_path: Path) -> None:
    drop = tmp_path / "only-text"
    drop.mkdir()
    (drop / "notes.txt").write_text("text")

    summary = list_local_files(spec(drop, tmp_path, select="all"), PLAN)

    assert (summary["count"], summary["chunks"], summary["skipped_count"]) == (0, [], 1)
    assert read_skipped_keys(summary["skipped_uri"]) == ["notes.txt"]


def test_a_state_directory_inside_the_source_is_not_reported(drop: Path, tmp_path: Path) -> None:
    summary = list_local_files(spec(drop, tmp_path, state_directory=str(drop / "state"), select="all"), PLAN)

    assert summary["skipped_count"] == 0 and summary["skipped_uri"] is None


def read_skipped_keys(uri: str) -> list[str]:
    from include.roboflow_batch.export.skipped import read_skipped

    return [entry["key"] for entry in read_skipped(uri, None)]


def test_with_the_record_files_processed_by_another_window_are_skipped_with_that_window(
    tmp_path: Path,
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.jpg").write_bytes(b"\xff\xd8 first")
    record = (tmp_path / "record").as_uri() + "/"
    earlier = {
        **PLAN,
        "batch_id": "earlier-batch",
        "window_start": None,
        "window_end": "2026-01-01T00:00:00+00:00",
    }
    listing = spec(drop, tmp_path, select="all", processed_content=record, processed_content_conn_id=None)
    first = list_local_files(listing, {**earlier, "select": "all"})
    assert first["count"] == 1 and first["content_uri"].endswith("/earlier-batch/files.content.jsonl")

    window = WindowRef(None, "2026-01-01T00:00:00+00:00", "all")
    ContentRecord(ObjectStoragePath(record)).add_window(
        window, read_sent_content(first["content_uri"], None, set())
    )

    (drop / "copy.jpg").write_bytes(b"\xff\xd8 first")  # the same bytes under another name
    (drop / "b.jpg").write_bytes(b"\xff\xd8 second")
    later = list_local_files(listing, {**PLAN, "select": "all"})

    assert later["count"] == 1 and listed_names(later, drop) == [["b.jpg"]]
    assert later["skipped"] == {"already-processed": 2}
    skipped = [
        json.loads(line)
        for line in Path(later["skipped_uri"].removeprefix("file://")).read_text().splitlines()
    ]
    assert skipped == [
        {"key": "a.jpg", "reason": "already-processed", "size": 8, "processed_in": window.to_json()},
        {"key": "copy.jpg", "reason": "already-processed", "size": 8, "processed_in": window.to_json()},
    ]
