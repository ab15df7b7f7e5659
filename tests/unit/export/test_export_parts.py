"""Result counting, reconciliation rules and atomic local writes, each on its own."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from include.roboflow_batch.export.destination import Destination
from include.roboflow_batch.export.manifest import ExportCounts, reconcile
from include.roboflow_batch.export.progress import ProgressLog, load_progress
from include.roboflow_batch.export.results import count_results, result_format


def test_csv_rows_with_quoted_newlines_count_once() -> None:
    text = 'file_name,note\na.jpg,"two\nlines"\nb.jpg,plain\n'
    count = count_results(text.splitlines(keepends=True), "csv", "results.csv")
    assert count.rows == 2
    assert count.rows_by_name == Counter({"a.jpg": 1, "b.jpg": 1})


def test_broken_jsonl_line_is_named() -> None:
    lines = ['{"file_name": "a.jpg"}\n', "\n", "{not json\n"]
    with pytest.raises(ValueError, match=r"results-1\.jsonl, line 3: not valid JSON"):
        count_results(lines, "jsonl", "results-1.jsonl")


def test_explicit_name_field_and_unnamed_rows() -> None:
    lines = ['{"image": "a.jpg", "file_name": "x"}\n', '{"other": 1}\n']
    count = count_results(lines, "jsonl", "r.jsonl", name_field="image")
    assert count.rows_by_name == Counter({"a.jpg": 1})
    assert count.unnamed_rows == 1


def test_only_csv_and_jsonl_are_results() -> None:
    assert result_format("a/b/results-0.JSONL") == "jsonl"
    assert result_format("results.csv") == "csv"
    assert result_format("vis.png") is None


def _reconcile(**overrides: object) -> tuple[dict[str, bool | None], dict[str, object]]:
    arguments: dict[str, object] = {
        "media_type": "images",
        "expected": 3,
        "ingested_count": 2,
        "ingested_names": ["a", "b"],
        "failed": [{"file_name": "c"}],
        "processing_failed": [],
        "rows": 2,
        "rows_by_name": Counter({"a": 1, "b": 1}),
        "unnamed_rows": 0,
    }
    arguments.update(overrides)
    return reconcile(ExportCounts(**arguments))  # type: ignore[arg-type]


def test_reconcile_all_good() -> None:
    checks, _ = _reconcile()
    assert checks == {
        "inputs_match": True,
        "ingested_listed": True,
        "rows_match": True,
        "skipped_listed": None,
    }


def test_rows_without_names_fall_back_to_totals() -> None:
    checks, details = _reconcile(rows=2, rows_by_name=Counter(), unnamed_rows=2)
    assert details["rows_without_file_name"] == 2
    assert checks["rows_match"] is True
    checks, _ = _reconcile(rows=1, rows_by_name=Counter(), unnamed_rows=1)
    assert checks["rows_match"] is False
    checks, _ = _reconcile(
        rows=1, rows_by_name=Counter(), unnamed_rows=1, processing_failed=[{"file_name": "b"}]
    )
    assert checks["rows_match"] is True


def test_staged_count_must_match_the_listing() -> None:
    checks, _ = _reconcile(ingested_count=3)
    assert checks["ingested_listed"] is False


def test_atomic_local_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    dest = Destination(f"file://{tmp_path / 'out'}")
    with pytest.raises(OSError, match="disk full"), dest.open_atomic("a/b.bin") as handle:
        handle.write(b"x" * 10)
        raise OSError("disk full")
    assert list((tmp_path / "out").rglob("*")) == [tmp_path / "out" / "a"]


def test_progress_record_round_trips_and_detects_missing_files(tmp_path: Path) -> None:
    dest = Destination(f"file://{tmp_path}")
    (tmp_path / "r.jsonl").write_text("{}\n")
    progress = ProgressLog(dest)
    progress.record("batch/part/s1/r.tar.gz", [{"path": "r.jsonl", "size": 3, "sha256": "h"}])
    assert load_progress(dest) == {}  # batched: nothing written before a flush
    progress.flush()
    records = load_progress(Destination(f"file://{tmp_path}"))
    assert dest.is_complete(records["batch/part/s1/r.tar.gz"], dest.existing_sizes())
    (tmp_path / "r.jsonl").write_text("{}\n{}\n")  # changed size: no longer complete
    assert not dest.is_complete(records["batch/part/s1/r.tar.gz"], dest.existing_sizes())


def test_progress_is_appended_in_segments_never_rewritten(tmp_path: Path) -> None:
    dest = Destination(f"file://{tmp_path}")
    progress = ProgressLog(dest, batch_size=2)
    for number in range(5):
        progress.record(f"source-{number}", [])
    progress.flush()
    segments = sorted((tmp_path / "_progress").iterdir())
    assert sorted(len(p.read_text().splitlines()) for p in segments) == [1, 2, 2]
    assert sorted(load_progress(dest)) == [f"source-{n}" for n in range(5)]


def test_unreadable_progress_record_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "_progress").mkdir()
    (tmp_path / "_progress" / "a1.jsonl").write_text('{"source": "a", "files": []}\n{torn\n')
    with pytest.raises(ValueError, match=r"_progress/a1\.jsonl, line 2"):
        load_progress(Destination(f"file://{tmp_path}"))
