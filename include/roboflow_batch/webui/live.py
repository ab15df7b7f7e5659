"""Live stage and task progress of running jobs, asked from Roboflow when the view is opened.

Only runs whose job wait is still going are asked about, at most ``MAX_LIVE_JOBS`` at once, each with
a short time-out: a slow or unreachable API leaves the view without live numbers, never slow.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from include.roboflow_batch.webui.runs import RunView

log = logging.getLogger(__name__)

MAX_LIVE_JOBS = 20
LIVE_TIMEOUT = 3.0


def job_progress(conn_id: str, job_id: str) -> dict[str, Any]:
    from include.roboflow_batch.api.client import RoboflowClient
    from include.roboflow_batch.hooks.roboflow import RoboflowHook
    from include.roboflow_batch.jobs.status import judge
    from include.roboflow_batch.jobs.status_fetch import fetch_snapshot

    settings = RoboflowHook(roboflow_conn_id=conn_id).settings
    with RoboflowClient(
        settings.base_url, settings.api_key, workspace=settings.workspace, timeout=LIVE_TIMEOUT, max_retries=0
    ) as client:
        verdict = judge(job_id, fetch_snapshot(client, job_id))
    progress = verdict.progress
    return {
        "stage": progress.stage,
        "tasks_done": progress.tasks_done,
        "tasks_total": progress.tasks_total,
        "tasks_failed": progress.tasks_failed,
        "terminal": verdict.is_terminal,
    }


def add_live_progress(runs: Iterable[RunView], conn_id: str = "roboflow_default") -> None:
    """Fill ``progress`` of the running jobs among ``runs`` (in place)."""
    running = [(run, run.job_id) for run in runs if run.job_state == "running" and run.job_id][:MAX_LIVE_JOBS]
    if not running:
        return
    pool = ThreadPoolExecutor(max_workers=min(8, len(running)))
    futures = {pool.submit(job_progress, conn_id, job_id): run for run, job_id in running}
    done, _ = wait(futures, timeout=LIVE_TIMEOUT + 1)
    for future in done:
        try:
            futures[future].progress = future.result()
        except Exception as error:  # shown as "no live data", the page still renders
            log.info("No live progress for job %s: %s", futures[future].job_id, type(error).__name__)
    pool.shutdown(wait=False, cancel_futures=True)
