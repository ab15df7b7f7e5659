"""Local-directory ingest, side by side with the official CLI's ``inference rf-cloud data-staging
create-batch-of-images --images-dir`` on the same directory: seconds from the start of the upload
until the emulator reports every image staged. Runs alternate (CLI first, then ours first); the CLI
runs from a warm fork server, so its Python imports are not counted.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import result
from bench.bench_export import _png
from include.devstack.services import running, start_roboflow_emulator
from include.roboflow_emulator.testing import EmulatorHandle

IMAGES = int(os.environ.get("BENCH_LOCAL_INGEST_IMAGES", "2000"))
REPEATS = int(os.environ.get("BENCH_LOCAL_INGEST_REPEATS", "3"))


def until_staged(client: Any, batch_id: str, upload: Callable[[], object]) -> float:
    started = time.perf_counter()
    upload()
    deadline = started + 600
    while client.count_batch(batch_id) < IMAGES:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{batch_id} was not staged in time")
        time.sleep(0.05)
    return time.perf_counter() - started


def run() -> list[dict[str, Any]]:
    from bench.bench_references import environment
    from include.devstack.connections import roboflow_connection
    from include.devstack.official_cli import InferenceCli, start_forkserver
    from include.devstack.task_context import make_context
    from include.roboflow_batch.api.client import RoboflowClient
    from include.roboflow_batch.operators.ingest import RoboflowIngestOperator

    workdir = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    images = workdir / "images"
    images.mkdir()
    for number in range(IMAGES):
        (images / f"frame-{number:06d}.png").write_bytes(_png(number))
    service = start_roboflow_emulator(extra_args=["--ingest-delay", "0"])
    forkserver = start_forkserver(workdir)
    cli_times: list[float] = []
    our_times: list[float] = []
    loads: list[float] = []
    try:
        with running(service):
            emulator = EmulatorHandle(service)
            connection = json.dumps(
                roboflow_connection(emulator.base_url, emulator.api_key, emulator.workspace)
            )
            cli = InferenceCli(emulator.base_url, emulator.api_key, forkserver=forkserver)
            client = RoboflowClient(emulator.base_url, emulator.api_key, workspace=emulator.workspace)

            def theirs() -> float:
                batch_id = f"cli-{uuid.uuid4().hex[:10]}"
                return until_staged(
                    client,
                    batch_id,
                    lambda: cli.run(
                        "data-staging",
                        "create-batch-of-images",
                        "--images-dir",
                        images,
                        "--batch-id",
                        batch_id,
                        timeout=600,
                    ),
                )

            def ours() -> float:
                batch_id = f"ours-{uuid.uuid4().hex[:10]}"
                operator = RoboflowIngestOperator(
                    task_id="ingest", batch_id=batch_id, local_directory=str(images)
                )
                return until_staged(client, batch_id, lambda: operator.execute(make_context()))

            cli.run("data-staging", "list-batches", timeout=600)  # the fork server is warm before timing
            with client, environment(AIRFLOW_CONN_ROBOFLOW_DEFAULT=connection):
                for repeat in range(REPEATS):
                    loads.append(os.getloadavg()[0])
                    if repeat % 2 == 0:
                        cli_times.append(theirs())
                        our_times.append(ours())
                    else:
                        our_times.append(ours())
                        cli_times.append(theirs())
    finally:
        forkserver.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    cli_median, our_median = statistics.median(cli_times), statistics.median(our_times)
    return [
        result(
            "local_ingest_vs_cli",
            f"local directory of {IMAGES:,} images until staged: s (lower is better)",
            our_median,
            "s",
            baseline=cli_median,
            baseline_name="inference-cli create-batch-of-images",
            ratio=cli_median / our_median,
            target=">= 1.3x faster",
            met=cli_median / our_median >= 1.3,
            detail=f"runs ours {[round(t, 2) for t in our_times]}, CLI {[round(t, 2) for t in cli_times]}; "
            f"1-min load {min(loads):.1f}-{max(loads):.1f} on {os.cpu_count()} cores",
        )
    ]
