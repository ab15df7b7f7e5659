"""One pipeline run the way production runs it: the session's api-server, scheduler, dag-processor and
triggerer as separate processes (LocalExecutor, PostgreSQL), the run started through the REST API, sensors
deferred to the triggerer."""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from include.devstack import connections
from include.devstack.airflow_stack import AirflowAPI, AirflowAPIError
from include.devstack.run_results import local_path, result_rows
from include.devstack.sample_media import sample_images, seed_s3
from include.devstack.services import running, start_roboflow_emulator
from include.roboflow_emulator.testing import EmulatorHandle
from tests.integration.pipeline.conftest import TEST_DEFAULTS, object_store_pipeline
from tests.integration.pipeline.file_clock import boundary
from tests.shared_stack import SharedStack, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(420)]

DAG_ID = "roboflow_sched_s3"
SENSORS = ("wait_for_batch", "wait_for_job")


def follow_run(
    api: AirflowAPI, dag_id: str, run_id: str, timeout: float = 240
) -> tuple[str, dict[str, set[str]]]:
    """Poll the run until it finishes; return its state and every state each task was seen in."""
    seen: dict[str, set[str]] = defaultdict(set)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ti in api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]:
            if ti["state"]:
                seen[ti["task_id"]].add(ti["state"])
        state = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
        if state in ("success", "failed"):
            return state, seen
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} did not finish within {timeout:.0f}s; task states seen: {dict(seen)}")


def task_state(api: AirflowAPI, dag_id: str, run_id: str, task_id: str) -> str | None:
    """The state of ``task_id`` in the run (of its first map index, for a mapped task)."""
    tis = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    return next((ti["state"] for ti in tis if ti["task_id"] == task_id), None)


def trigger(
    api: AirflowAPI,
    dag_id: str,
    run_id: str,
    logical_date: datetime | None,
    conf: dict[str, Any] | None = None,
) -> None:
    """POST a run with an explicit id: if a timed-out first attempt did create it, 409 is fine."""
    body: dict[str, Any] = {
        "dag_run_id": run_id,
        "logical_date": logical_date.isoformat() if logical_date else None,
    }
    if conf is not None:
        body["conf"] = conf
    try:
        api.post(f"/api/v2/dags/{dag_id}/dagRuns", body)
    except AirflowAPIError as error:
        if error.status_code != 409:
            raise


def trigger_log_text(home: Path, dag_id: str, run_id: str, task_id: str) -> str:
    """Everything the triggerer logged for one task's deferrals (``*.log.trigger.<id>.log`` files)."""
    folder = home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    # Mapped tasks log under map_index=N/ below the task's folder.
    return "\n".join(path.read_text() for path in sorted(folder.rglob("*.log.trigger.*.log")))


def returned(api: AirflowAPI, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
    """What a task returned; ``map_index`` picks one chunk of a step mapped over a window's chunks."""
    entry = api.get(
        f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        + (f"?map_index={map_index}" if map_index >= 0 else "")
    )
    value = entry["value"]
    return json.loads(value) if isinstance(value, str) else value


def test_pipeline_run_through_scheduler_and_triggerer(
    moto_server: Any, airflow_stack: SharedStack, tmp_path: Path
) -> None:
    images = sample_images(4, prefix="sched", seed=41)
    seed_s3(moto_server.url, "it-sched-frames", "cams/", images)
    pipeline = object_store_pipeline(
        "sched_s3", "s3", "it-sched-frames", "cams/", tmp_path, source={"conn_id": "sched_s3"}
    )
    pipeline["roboflow_conn_id"] = "sched_roboflow"
    pipeline["export"]["transfer_processes"] = 2  # worker processes started from a real task
    # Indexing and stages held until each sensor has handed over to the triggerer.
    slow = start_roboflow_emulator(extra_args=["--ingest-delay", "600", "--stage-delay", "600"])
    held = EmulatorHandle(slow)
    stack = airflow_stack

    with running(slow):
        stack.add_connections(
            {
                "sched_roboflow": connections.roboflow_connection(slow.url),
                "sched_s3": connections.moto_connection(moto_server.url),
            }
        )
        stack.add_pipelines("sched_s3", {"defaults": TEST_DEFAULTS, "pipelines": [pipeline]})
        api = stack.api()
        api.wait_for_dags(DAG_ID, timeout=300)
        logical_date = boundary(tmp_path / "clock")  # after seeding: the images are in its hour
        run_id = f"rest__{logical_date:%Y%m%dT%H%M%S}"
        trigger(api, DAG_ID, run_id, logical_date)
        for sensor, delay in zip(SENSORS, ("ingest_delay", "stage_delay"), strict=True):
            wait_until(
                lambda s=sensor: task_state(api, DAG_ID, run_id, s) == "deferred", 400, f"{sensor} to defer"
            )
            held.set_delays(**{delay: 0.2})

        state, seen = follow_run(api, DAG_ID, run_id)

        assert state == "success", dict(seen)
        export = returned(api, DAG_ID, run_id, "reconcile")
        job = returned(api, DAG_ID, run_id, "start_job", map_index=0)

    home = stack.home
    # The triggerer writes what each trigger did next to the task's log.
    for sensor in SENSORS:
        trigger_log = trigger_log_text(home, DAG_ID, run_id, sensor)
        assert "Trigger fired event" in trigger_log, sensor
    # The job wait's trigger is the project's: its event names the job and the job's output batches.
    job_trigger_log = trigger_log_text(home, DAG_ID, run_id, "wait_for_job")
    assert f"'job_id': '{job['job_id']}'" in job_trigger_log and "'output_batches'" in job_trigger_log
    assert export["reconciled"] is True
    assert len(result_rows(local_path(export["destination"]))) == len(images)
    run_logs = home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
    export_log = "\n".join(path.read_text() for path in (run_logs / "task_id=export").rglob("*.log"))
    assert re.search(r"Transferring \d+ source file\(s\) in [12] worker process\(es\)", export_log)
    assert slow.process.poll() is not None
