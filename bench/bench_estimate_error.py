"""How close the spend estimate comes to the machine time jobs really use, over emulator jobs of
varied sizes, against a simpler estimate in the same run.

Jobs of 22 sizes (4 to 120 images, shuffled) run one after another on the emulator, whose machines
spend real time per image (0.02 s times a factor from 0.75 to 1.25 fixed by each image's bytes)
plus 0.1 s to start each task of at most 16 images, four tasks at a time. Before each job the
estimate is made from the pipeline's own earlier jobs only, exactly as the spend gate makes it
(``spend.steps.plan_window`` over the ledger); after it, the machine time is read from the job's
API fields (``jobs.machine_time``) and accounted (``spend.steps.account``), so the next estimate
learns from it. The first job has no history (the cold start) and is reported apart.

Baseline: the plain per-object ratio of the same history (no start-up cost per job). Relative error
is |estimate - measured| / measured.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import result

SIZES = [4, 6, 8, 10, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 9]
MACHINES = {"secondsPerImage": 0.02, "taskStartSeconds": 0.1, "imagesPerTask": 16, "gpuSpeedup": 4.0}
TARGET_MEDIAN = 0.15


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise TimeoutError(what)


def _run_job(client: Any, workspace: str, index: int, size: int) -> str:
    from include.devstack.sample_media import sample_images
    from include.roboflow_batch.api.jobs import WorkflowJobSpec

    batch_id, job_id = f"estimate-b{index}", f"estimate-j{index}"
    for image in sample_images(size, prefix=f"e{index}", seed=1000 + index):
        client.upload_image(batch_id, image.name, image.content)
    _wait(lambda: client.count_batch(batch_id) == size, 60, f"batch {batch_id} staged")
    body = WorkflowJobSpec(batch_id=batch_id, workflow_id="image-stats").to_body(workspace)
    client.create_job(job_id, body)
    _wait(lambda: client.get_job(job_id).is_terminal, 300, f"job {job_id} finished")
    return job_id


def measure() -> dict[str, Any]:
    from include.devstack.services import start_roboflow_emulator
    from include.roboflow_batch.api.client import RoboflowClient
    from include.roboflow_batch.jobs.machine_time import fetch_job_spend
    from include.roboflow_batch.spend.ledger import SpendLedger
    from include.roboflow_batch.spend.policy import SpendPolicy
    from include.roboflow_batch.spend.steps import account, history, plan_window, reserve
    from include.roboflow_emulator.testing import EmulatorHandle

    sizes = SIZES[:]
    random.Random(7).shuffle(sizes)
    service = start_roboflow_emulator(extra_args=["--ingest-delay", "0.05", "--stage-delay", "0"])
    rows: list[dict[str, Any]] = []
    try:
        emulator = EmulatorHandle(service)
        emulator.set_machines(**MACHINES)
        client = RoboflowClient(emulator.base_url, emulator.api_key)
        workspace = client.get_workspace()
        with tempfile.TemporaryDirectory(prefix="bench-estimate-") as folder:
            ledger = SpendLedger(Path(folder))
            policy = SpendPolicy(pipeline_id="bench", media_type="images", ledger_uri=folder)
            for index, size in enumerate(sizes):
                now = datetime.now(UTC)
                earlier = history(policy, ledger, now)
                plan = plan_window(policy, ledger, [(0, f"estimate-j{index}", size)], now=now)
                baseline = (
                    size * sum(o.machine_seconds for o in earlier) / sum(o.objects for o in earlier)
                    if earlier
                    else None
                )
                reserve(policy, ledger, plan, settle_seconds=0.0)
                job_id = _run_job(client, workspace, index, size)
                spend = fetch_job_spend(client, job_id)
                account(policy, ledger, job_id, spend, objects=size)
                measured = spend.machine_time.seconds
                rows.append(
                    {
                        "size": size,
                        "measured": measured,
                        "estimate": plan.estimate_seconds,
                        "baseline": baseline,
                        "basis": plan.model.basis,
                        "tasks": spend.machine_time.tasks,
                        "without_start_log": spend.machine_time.tasks_without_start_log,
                    }
                )
    finally:
        service.stop()
    return {"rows": rows}


def _errors(rows: list[dict[str, Any]], key: str) -> list[float]:
    return [abs(row[key] - row["measured"]) / row["measured"] for row in rows if row[key] is not None]


def run() -> list[dict[str, Any]]:
    rows = measure()["rows"]
    learned = [row for row in rows if row["basis"] == "history"]
    errors, baseline_errors = _errors(learned, "estimate"), _errors(learned, "baseline")
    cold = [row for row in rows if row["basis"] == "cold-start"]
    sizes = ", ".join(str(row["size"]) for row in rows)
    detail = (
        f"{len(rows)} jobs of {sizes} images, one after another, each estimated from the jobs before it; "
        f"{sum(r['tasks'] for r in rows)} tasks in all, "
        f"{sum(r['without_start_log'] for r in rows)} without a start log; machine model {MACHINES}"
    )
    if cold:
        first = cold[0]
        detail += f"; cold start (first job): estimate {first['estimate']:.1f} s, "
        detail += f"measured {first['measured']:.2f} s"
    median, worst = statistics.median(errors), max(errors)
    base_median, base_worst = statistics.median(baseline_errors), max(baseline_errors)
    return [
        result(
            "estimate_error",
            f"median relative error of the estimate over {len(errors)} jobs (lower is better; baseline: "
            "per-object ratio)",
            median,
            "fraction",
            baseline=base_median,
            baseline_name="per-object ratio",
            target=f"< {TARGET_MEDIAN:.2f}",
            met=median < TARGET_MEDIAN,
            detail=detail,
        ),
        result(
            "estimate_error",
            f"worst relative error of the estimate over {len(errors)} jobs (lower is better)",
            worst,
            "fraction",
            baseline=base_worst,
            baseline_name="per-object ratio",
            detail=detail,
        ),
    ]
