"""One pipeline run the way production runs it: api-server, scheduler, dag-processor and triggerer as
separate processes (LocalExecutor, SQLite), the run started through the REST API, sensors deferred
to the triggerer."""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from include.devstack import connections
from include.devstack.airflow_stack import (
    AirflowAPI,
    AirflowAPIError,
    airflow_env,
    ensure_pool,
    migrate_db,
    running_stack,
)
from include.devstack.run_results import local_path, result_rows
from include.devstack.sample_media import sample_images, seed_s3
from include.devstack.services import running, start_roboflow_emulator
from tests.integration.pipeline.conftest import TEST_DEFAULTS, object_store_pipeline

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

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


def trigger(
    api: AirflowAPI, dag_id: str, run_id: str, logical_date: datetime, conf: dict[str, Any] | None = None
) -> None:
    """POST a run with an explicit id: if a timed-out first attempt did create it, 409 is fine."""
    body: dict[str, Any] = {"dag_run_id": run_id, "logical_date": logical_date.isoformat()}
    if conf:
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


def test_pipeline_run_through_scheduler_and_triggerer(moto_server: Any, tmp_path: Path) -> None:
    images = sample_images(4, prefix="sched", seed=41)
    seed_s3(moto_server.url, "it-sched-frames", "cams/", images)
    pipeline = object_store_pipeline("sched_s3", "s3", "it-sched-frames", "cams/", tmp_path)
    pipeline["export"]["transfer_processes"] = 2  # worker processes started from a real task
    # Slow enough stages that both sensors have to hand over to the triggerer.
    slow = start_roboflow_emulator(extra_args=["--ingest-delay", "6", "--stage-delay", "4"])
    home = tmp_path / "airflow-home"
    home.mkdir()
    pipelines_file = home / "astro.yaml"
    pipelines_file.write_text(yaml.safe_dump({"defaults": TEST_DEFAULTS, "pipelines": [pipeline]}))
    env = airflow_env(
        home,
        connections={
            "roboflow_default": connections.roboflow_connection(slow.url),
            "it_s3": connections.moto_connection(moto_server.url),
        },
        extra={"ROBOFLOW_PIPELINES_FILE": str(pipelines_file)},
    )

    with running(slow):
        migrate_db(env)
        ensure_pool(env)
        with running_stack(home, env) as stack:
            api = stack.api()
            api.wait_for_dags(DAG_ID)
            logical_date = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
            time.sleep(1)
            run_id = f"rest__{logical_date:%Y%m%dT%H%M%S}"
            trigger(api, DAG_ID, run_id, logical_date)

            state, seen = follow_run(api, DAG_ID, run_id)

            assert state == "success", dict(seen)
            export = returned(api, DAG_ID, run_id, "reconcile")

    assert all("deferred" in seen[sensor] for sensor in SENSORS), dict(seen)
    # The triggerer writes what each trigger did next to the task's log.
    for sensor in SENSORS:
        trigger_log = trigger_log_text(home, DAG_ID, run_id, sensor)
        assert "Trigger fired event" in trigger_log, sensor
    assert "include.roboflow_batch.triggers.job.RoboflowJobTrigger" in trigger_log_text(
        home, DAG_ID, run_id, "wait_for_job"
    )
    assert export["reconciled"] is True
    assert len(result_rows(local_path(export["destination"]))) == len(images)
    export_log = "\n".join(
        path.read_text() for path in (home / "logs").rglob("*.log") if "task_id=export" in str(path)
    )
    assert re.search(r"Transferring \d+ source file\(s\) in [12] worker process\(es\)", export_log)
    assert slow.process.poll() is not None
