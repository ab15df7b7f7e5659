"""Response time of the Roboflow view with 50 pipelines and 1,000 finished runs, against the same view
over 50 pipelines with one run each (same run, same machine): the page must not grow with history.

Each size gets its own fresh SQLite metadata DB in a child process (``bench/view_history.py``); the
overview (10 newest runs per pipeline) and a run tab are timed in-process, queries and HTML included.
Target: the overview under 500 ms at 1,000 runs.

The overview's trend charts come from the same queries; at 1,000 runs the overview with them is timed
against the same page without them (the page before trends), alternating in one process. Target:
within 1.5x.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench import result
from bench.children import child_result, fresh_airflow_env

PIPELINES = 50
RUNS = (1, 20)  # per pipeline: 50 and 1,000 runs
TARGET_MS = 500.0
TRENDS_TARGET = 1.5


def measure(runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-view-") as workdir:
        env = fresh_airflow_env(Path(workdir))
        return child_result("bench.view_history", PIPELINES, runs, workdir, env=env)


def run() -> list[dict[str, Any]]:
    small, large = (measure(runs) for runs in RUNS)
    detail = (
        f"{PIPELINES} pipelines; {PIPELINES * RUNS[1]} vs {PIPELINES * RUNS[0]} runs in SQLite; "
        f"{large['runs_shown']} runs shown; median of 7"
    )
    return [
        result(
            "roboflow_view",
            "overview at 1,000 runs (ms, lower is better; baseline: 50 runs)",
            large["overview_ms"],
            "ms",
            baseline=small["overview_ms"],
            baseline_name="50 runs",
            target=f"< {TARGET_MS:.0f} ms",
            met=large["overview_ms"] < TARGET_MS,
            detail=detail,
        ),
        result(
            "roboflow_view",
            "overview with trends at 1,000 runs (ms, lower is better; baseline: the page without them)",
            large["overview_ms"],
            "ms",
            baseline=large["overview_without_trends_ms"],
            baseline_name="no trend charts",
            target=f"< {TRENDS_TARGET}x",
            met=large["overview_ms"] < TRENDS_TARGET * large["overview_without_trends_ms"],
            detail=detail + "; 4 series a pipeline plus credits, alternating pairs",
        ),
        result(
            "roboflow_view",
            "run tab at 1,000 runs (ms, lower is better; baseline: 50 runs)",
            large["run_tab_ms"],
            "ms",
            baseline=small["run_tab_ms"],
            baseline_name="50 runs",
            detail=detail,
        ),
    ]
