"""``python -m bench <module>`` keeps the results of the benchmarks it did not run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench.__main__ as bench_main


def _row(benchmark: str, metric: str, value: float) -> dict[str, object]:
    return {"benchmark": benchmark, "metric": metric, "value": value, "unit": "s"}


def test_a_run_of_one_module_replaces_only_its_own_rows() -> None:
    previous = [_row("export", "archives", 6.0), _row("export", "raw", 14.0), _row("ingest", "local", 0.7)]
    merged = bench_main.merge(previous, [_row("export", "archives", 3.0)])
    assert merged == [_row("ingest", "local", 0.7), _row("export", "archives", 3.0)]


def test_previous_rows_of_a_missing_or_broken_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "latest.json"
    monkeypatch.setattr(bench_main, "RESULTS_PATH", results)
    assert bench_main.previous_rows() == []
    results.write_text("{not json")
    assert bench_main.previous_rows() == []
    results.write_text(json.dumps([_row("ingest", "local", 0.7), "junk"]))
    assert bench_main.previous_rows() == [_row("ingest", "local", 0.7)]
