"""Writing a window's results table against writing its raw result files, at 10,000 and 100,000
result rows (about 1.5 detections each, 256 rows per JSONL file, as the export lands them).

Each measure runs in its own child process (``bench/results_table_child.py``) so that its peak RSS
is its own; the table's time excludes importing pyarrow. The same rows, the same disk, one after the
other. Targets: the table costs at most a few times the raw files, and its memory stays flat from
10,000 to 100,000 rows (record batches of 16,384 records).
"""

from __future__ import annotations

import statistics
import tempfile
from typing import Any

from bench import result
from bench.children import child_result

SIZES = (10_000, 100_000)
REPEATS = 3


def child(mode: str, rows: int, folder: str) -> dict[str, Any]:
    return child_result("bench.results_table_child", mode, rows, folder)


def measure(rows: int) -> dict[str, Any]:
    raw, table = [], []
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory(prefix="bench-table-") as folder:
            raw.append(child("raw", rows, folder))
            table.append(child("table", rows, folder))
    return {
        "raw_s": statistics.median(r["seconds"] for r in raw),
        "table_s": statistics.median(t["seconds"] for t in table),
        "raw_rss": max(r["peak_rss_mib"] for r in raw),
        "table_rss": max(t["peak_rss_mib"] for t in table),
        "records": table[0]["records"],
        "bytes": table[0]["bytes"],
    }


def run() -> list[dict[str, Any]]:
    small, large = (measure(rows) for rows in SIZES)
    detail = (
        f"{SIZES[1]:,} result rows -> {large['records']:,} table records, {large['bytes'] / 2**20:.1f} MiB "
        f"Parquet (zstd); medians of {REPEATS}; child processes"
    )
    return [
        result(
            "results_table",
            f"write the table, {SIZES[1]:,} result rows (s, lower is better; baseline: the raw JSONL)",
            large["table_s"],
            "s",
            baseline=large["raw_s"],
            baseline_name="raw JSONL files",
            detail=detail,
        ),
        result(
            "results_table",
            f"memory writing the table, {SIZES[1]:,} vs {SIZES[0]:,} result rows (MiB of RSS growth)",
            large["table_rss"],
            "MiB",
            baseline=small["table_rss"],
            baseline_name=f"{SIZES[0]:,} rows",
            target="flat (< 1.5x)",
            met=large["table_rss"] < 1.5 * small["table_rss"],
            detail=(
                f"peak RSS above the process after its imports; the raw files' writer grows "
                f"{large['raw_rss']:.0f} MiB; the table at {SIZES[0]:,} rows takes {small['table_s']:.2f} s"
            ),
        ),
    ]
