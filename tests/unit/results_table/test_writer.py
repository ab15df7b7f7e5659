"""A window's table: every result row's records and every failed object, atomically, once per window."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from include.roboflow_batch.export.results import UnreadableResultError
from include.roboflow_batch.results_table import schema
from include.roboflow_batch.results_table.writer import (
    ChunkOutput,
    TableTarget,
    TableWindow,
    write_window_table,
)

WINDOW = TableWindow("cams", datetime(2026, 3, 1, 4, tzinfo=UTC), datetime(2026, 3, 1, 5, tzinfo=UTC))


def detections(*boxes: tuple[str, float]) -> dict[str, Any]:
    return {
        "image": {"width": 96, "height": 64},
        "predictions": [
            {"x": x, "y": 5.0, "width": 2.0, "height": 2.0, "confidence": 0.5, "class": cls, "class_id": 0}
            for cls, x in boxes
        ],
    }


def export_folder(root: Path, files: dict[str, str], **manifest: Any) -> ChunkOutput:
    for relpath, text in files.items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_text(text)
    entries = [{"path": p, "size": 0, "sha256": ""} for p in [*files, "images/a.jpg"]]
    return ChunkOutput(root.as_uri(), None, "batch-1", "job-1", {"files": entries, **manifest})


def jsonl(*rows: dict[str, Any]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def read(uri: str) -> list[dict[str, Any]]:
    return pq.read_table(uri.removeprefix("file://")).to_pylist()


def test_every_result_row_lands_in_the_window_file(tmp_path: Path) -> None:
    chunk = export_folder(
        tmp_path / "export",
        {
            "results/results-00000.jsonl": jsonl(
                {"file_name": "cams__a.png", "predictions": detections(("car", 1.0), ("bus", 2.0))},
                {"file_name": "cams__b.png", "predictions": detections()},
            ),
            "results/results-00001.csv": 'file_name,predictions\ncams__c.png,"'
            + json.dumps(detections(("car", 3.0))).replace('"', '""')
            + '"\n',
        },
    )

    written = write_window_table(TableTarget((tmp_path / "tables").as_uri()), WINDOW, [chunk])

    assert written.predictions_uri == (
        f"{(tmp_path / 'tables').as_uri()}/predictions/pipeline=cams/date=2026-03-01/"
        "20260301T040000Z_20260301T050000Z.parquet"
    )
    assert (written.rows, written.result_rows, written.failure_rows) == (4, 3, 0)
    rows = read(written.predictions_uri)
    assert [(r["source_key"], r["class_name"], r["x"]) for r in rows] == [
        ("cams/a.png", "car", 1.0),
        ("cams/a.png", "bus", 2.0),
        ("cams/b.png", None, None),  # an image with no prediction: one row of nulls
        ("cams/c.png", "car", 3.0),
    ]
    assert rows[0]["window_start"] == WINDOW.start and rows[0]["window_end"] == WINDOW.end
    assert (rows[0]["batch_id"], rows[0]["job_id"]) == ("batch-1", "job-1")
    assert rows[0]["result_file"].endswith("/export/results/results-00000.jsonl")
    assert [r["result_line"] for r in rows] == [1, 1, 2, 1]
    metadata = pq.read_schema(written.predictions_uri.removeprefix("file://")).metadata
    assert metadata[schema.VERSION_METADATA_KEY] == schema.SCHEMA_VERSION.encode()


def test_failed_objects_go_to_the_second_table_with_their_stage(tmp_path: Path) -> None:
    chunk = export_folder(
        tmp_path / "export",
        {"r.jsonl": ""},
        failed={"files": [{"file_name": "cams__x.png", "type": "file-not-reachable", "reason": "404"}]},
        processing_failed={"files": [{"file_name": "cams__y.png", "reason": "bad PNG", "log_type": "error"}]},
    )
    skipped = [{"key": "cams/empty.png", "reason": "empty-file", "size": 0}]

    written = write_window_table(TableTarget((tmp_path / "t").as_uri()), WINDOW, [chunk], skipped)

    assert (written.rows, written.failure_rows) == (0, 3)
    failures = read(written.failures_uri)
    assert [(f["stage"], f["source_key"], f["source_name"], f["reason_type"]) for f in failures] == [
        ("listing", "cams/empty.png", None, "empty-file"),
        ("ingest", "cams/x.png", "cams__x.png", "file-not-reachable"),
        ("processing", "cams/y.png", "cams__y.png", "error"),
    ]
    assert failures[1]["batch_id"] == "batch-1" and failures[0]["size"] == 0


def test_a_rerun_of_the_window_replaces_its_file(tmp_path: Path) -> None:
    target = TableTarget((tmp_path / "t").as_uri())
    first = export_folder(
        tmp_path / "one", {"r.jsonl": jsonl({"file_name": "a.png", "p": detections(("a", 1.0))})}
    )
    second = export_folder(
        tmp_path / "two", {"r.jsonl": jsonl({"file_name": "a.png", "p": detections(("b", 1.0))})}
    )

    write_window_table(target, WINDOW, [first])
    written = write_window_table(target, WINDOW, [second])

    assert [r["class_name"] for r in read(written.predictions_uri)] == ["b"]
    files = sorted(p.name for p in (tmp_path / "t").rglob("*") if p.is_file())
    assert files == ["20260301T040000Z_20260301T050000Z.parquet"] * 2  # no temporary file left behind


def test_local_names_are_their_own_keys_and_select_all_windows_are_dated_by_their_end(tmp_path: Path) -> None:
    chunk = export_folder(tmp_path / "e", {"r.jsonl": jsonl({"file_name": "img_01.png", "p": detections()})})
    window = TableWindow("dir", None, datetime(2026, 3, 2, 8, tzinfo=UTC))

    written = write_window_table(TableTarget((tmp_path / "t").as_uri(), names_are_keys=True), window, [chunk])

    assert written.predictions_uri.endswith("/pipeline=dir/date=2026-03-02/all_20260302T080000Z.parquet")
    [row] = read(written.predictions_uri)
    assert row["source_key"] == "img_01.png" and row["window_start"] is None


def test_an_unreadable_result_line_names_the_file_and_line_and_writes_nothing(tmp_path: Path) -> None:
    chunk = export_folder(tmp_path / "e", {"r.jsonl": jsonl({"file_name": "a.png"}) + "{not json\n"})

    with pytest.raises(UnreadableResultError, match=r"r\.jsonl, line 2"):
        write_window_table(TableTarget((tmp_path / "t").as_uri()), WINDOW, [chunk])

    assert not [p for p in (tmp_path / "t").rglob("*") if p.is_file()]
