"""The processed-content record at 1,000,000 objects: time per window and peak memory
(bench.processed_content).

One window of 1,000,000 objects (a tenth of them rewrites of content processed before) against a
record of 1,000,000 and of 5,000,000 earlier digests from 65 windows (a compaction and 32 window
segments: recording the window compacts them all, the worst case), each in a fresh process. Side by
side in the same process: the listing's selection of the same window without the record.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from bench import result
from include.devstack.services import REPO_ROOT

WINDOW = int(os.environ.get("BENCH_WINDOW_OBJECTS", "1000000"))
RECORDS = (WINDOW, 5 * WINDOW)
WINDOWS = 65
MEMORY_TARGET_MIB = 1024


def _measure(record: int) -> dict[str, Any]:
    argv = [sys.executable, "-m", "bench.processed_content", "--window", str(WINDOW), "--record", str(record)]
    argv += ["--windows", str(WINDOWS)]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    completed = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"bench.processed_content --record {record} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for record in RECORDS:
        found = _measure(record)
        print(json.dumps(found, indent=1), flush=True)
        steps = ", ".join(
            f"{step} {found['timings'][step]:.1f} s ({found['cpu'][step]:.1f} s CPU)"
            for step in ("load", "filter", "record")
        )
        growth = found["peak_rss_mib"] - found["rss_start_mib"]
        # The filter step repeats the selection: its CPU beyond the baseline is the record's.
        added = found["with_record_cpu_seconds"] - found["cpu"]["baseline"]
        per_object = added / found["window"] * 1e6
        where = f"{found['window']:,}-object window, record of {record:,} digests from {WINDOWS} windows"
        rows += [
            result(
                "processed_content",
                f"CPU time of the listing's selection with the record (load + filter + record), {where} "
                "(lower is better; baseline: the same selection without the record)",
                found["with_record_cpu_seconds"],
                "s",
                baseline=found["cpu"]["baseline"],
                baseline_name="selection without the record",
                detail=f"{steps}; the record adds {per_object:.1f} us of CPU per listed object; wall "
                f"{found['with_record_seconds']:.1f} s vs {found['timings']['baseline']:.1f} s; "
                f"{found['left_out']:,} objects left out as already processed, {found['sent']:,} sent; "
                f"record {found['record_bytes'] / 2**20:.0f} MiB on disk after the window",
            ),
            result(
                "processed_content",
                f"peak RSS with the record, {where} (lower is better)",
                found["peak_rss_mib"],
                "MiB",
                target=f"< {MEMORY_TARGET_MIB} MiB",
                met=found["peak_rss_mib"] < MEMORY_TARGET_MIB,
                detail=f"{found['rss_start_mib']:.0f} MiB after imports, "
                f"{found['rss_after_load_mib']:.0f} MiB after loading the record; the record's steps added "
                f"{growth:.0f} MiB",
            ),
        ]
    return rows
