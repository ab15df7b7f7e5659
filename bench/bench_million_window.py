"""A 1,000,000-object window: plan, listing (with the processed-content record), chunked references, chunked
ingest and recording the window's content (bench.million_window).

Side by side in one run: the same path for a 100,000-object window (one chunk), so the ratios show
how time and memory grow with the window. Both run in fresh processes against one emulator, which
is reset between them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from typing import Any

from bench import result
from include.devstack import connections
from include.devstack.airflow_stack import connection_env
from include.devstack.services import REPO_ROOT, start_roboflow_emulator

LARGE = int(os.environ.get("BENCH_WINDOW_OBJECTS", "1000000"))
SMALL = LARGE // 10
PER_BATCH = 100_000  # the images default of max_batch_objects
MEMORY_TARGET_MIB = 1024
#: CPU of the large window against the small one: 10x is linear; the record must not push it past this.
CPU_RATIO_TARGET = 11.0


def _load() -> str:
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def _measure(count: int, emulator_url: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        **connection_env("roboflow_default", connections.roboflow_connection(emulator_url)),
    }
    argv = [sys.executable, "-m", "bench.million_window", "--count", str(count)]
    argv += ["--per-batch", str(PER_BATCH), "--emulator", emulator_url]
    completed = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"bench.million_window --count {count} failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _reset(emulator_url: str) -> None:
    request = urllib.request.Request(f"{emulator_url}/__emulator__/reset", method="POST", data=b"")
    urllib.request.urlopen(request, timeout=60).close()


def run() -> list[dict[str, Any]]:
    service = start_roboflow_emulator(extra_args=("--ingest-delay", "0"))
    load_before = _load()
    try:
        small = _measure(SMALL, service.url)
        _reset(service.url)
        large = _measure(LARGE, service.url)
    finally:
        service.stop()
    load = f"load average (1/5/15 min) {load_before} before, {_load()} after"
    print(json.dumps({"small": small, "large": large}, indent=1), flush=True)
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in large["timings"].items())
    calls = ", ".join(f"{route} {n}" for route, n in sorted(large["roboflow_calls_by_route"].items()))
    return [
        result(
            "million_window",
            f"wall time, {large['count']:,}-object window in {large['chunks']} chunks "
            f"(vs {small['count']:,} objects in {small['chunks']}; lower is better)",
            large["wall_seconds"],
            "s",
            baseline=small["wall_seconds"],
            baseline_name=f"{small['count']:,} objects",
            detail=f"{steps}; then {large['indexing_wait_seconds']:.1f} s until the emulator had indexed "
            f"every reference ({large['failed']:,} recorded, by design unsafe-url-detected); "
            f"{large['references_bytes'] / 2**20:.0f} MiB of references files; {load}",
        ),
        result(
            "million_window",
            "CPU time of the process for the same two windows (lower is better; load-independent)",
            large["cpu_seconds"],
            "s",
            baseline=small["cpu_seconds"],
            baseline_name=f"{small['count']:,} objects",
            target=f"ratio <= {CPU_RATIO_TARGET:g}x",
            met=large["cpu_seconds"] <= CPU_RATIO_TARGET * small["cpu_seconds"],
            detail="user + system time of plan, listing, references, ingest and recording the window's "
            f"content; linear growth is 10x; each window looked up in a record of as many earlier digests "
            f"({large['record_bytes'] / 2**20:.0f} MiB of segments after the large window), "
            f"{large['content_list_bytes'] / 2**20:.0f} MiB content list",
        ),
        result(
            "million_window",
            f"peak RSS of the process, {large['count']:,} vs {small['count']:,} objects (lower is better)",
            large["peak_rss_mib"],
            "MiB",
            baseline=small["peak_rss_mib"],
            baseline_name=f"{small['count']:,} objects",
            target=f"< {MEMORY_TARGET_MIB} MiB",
            met=large["peak_rss_mib"] < MEMORY_TARGET_MIB,
            detail=f"after imports {large['rss_start_mib']:.0f} MiB, after listing+references "
            f"{large['rss_after_references_mib']:.0f} MiB; each chunk's ingest runs in the same process "
            "here (mapped tasks would each have their own)",
        ),
        result(
            "million_window",
            f"API calls for {large['count']:,} objects: Roboflow requests (vs the {small['count']:,} window)",
            large["roboflow_api_calls"],
            "calls",
            baseline=small["roboflow_api_calls"],
            baseline_name=f"{small['count']:,} objects",
            detail=f"{large['ingest_requests']} reference ingests of <= 20,000 into "
            f"{large['chunks']} batches ({calls}); store listing: "
            f"{large['store_list_calls']:,} ListObjectsV2 pages of 1,000",
        ),
    ]
