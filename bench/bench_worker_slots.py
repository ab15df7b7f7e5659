"""Worker-slot seconds while a 60 s Roboflow job runs: the job sensor deferrable vs reschedule vs poke.

A real api-server, scheduler (LocalExecutor), dag-processor and triggerer run one DAG with three
``RoboflowJobSensor`` tasks watching the same job, one per waiting mode. The job runs on the emulator
with a minimum of 30 s per stage (two stages). The task instances are sampled through the REST API
every 0.25 s; the time a task instance is seen ``running`` is the time it holds an executor slot
(``deferred`` and ``up_for_reschedule`` hold none). Lower is better; ratios are poke / mode.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import result
from bench.bench_export import image_server
from include.devstack.airflow_stack import (
    AirflowAPI,
    AirflowAPIError,
    airflow_env,
    connection_env,
    migrate_db,
    running_stack,
)
from include.devstack.connections import roboflow_connection
from include.devstack.services import running, start_roboflow_emulator
from include.roboflow_batch.sensors.waiting import MIN_RESCHEDULE_INTERVAL
from include.roboflow_emulator.testing import EmulatorHandle

STAGE_SECONDS = 30  # image-stats jobs have two stages (processing, export): about 60 s in all
# Reschedule mode raises it to the sensor's minimum (see sensors/waiting.py).
POKE_SECONDS = float(os.environ.get("BENCH_SLOTS_POKE_SECONDS", "10"))
SAMPLE_SECONDS = 0.25
DAG_ID = "bench_worker_slots"
MODES = ("deferrable", "reschedule", "poke")

DAG_FILE = f'''
from datetime import datetime

from airflow.sdk import DAG

from include.roboflow_batch.sensors.job import RoboflowJobSensor

JOB = "{{{{ dag_run.conf['job_id'] }}}}"
with DAG("{DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    RoboflowJobSensor(task_id="deferrable", job_id=JOB, deferrable=True, poke_interval={POKE_SECONDS})
    RoboflowJobSensor(
        task_id="reschedule", job_id=JOB, deferrable=False, mode="reschedule", poke_interval={POKE_SECONDS}
    )
    RoboflowJobSensor(task_id="poke", job_id=JOB, deferrable=False, mode="poke", poke_interval={POKE_SECONDS})
'''


@contextmanager
def patched_env(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in this process's environment for the block (the job is started from here)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def start_job(emulator: EmulatorHandle, images: str) -> str:
    """An indexed batch of a few images and a started (not finished) image-stats job over it."""
    from include.roboflow_batch.api.client import RoboflowClient
    from include.roboflow_batch.operators.start_job import RoboflowStartJobOperator
    from tests.unit.jobs.fakes import make_context

    batch_id = f"slots-{uuid.uuid4().hex[:10]}"
    references = [{"name": f"cam__{n:03d}.png", "url": f"{images}/cam/{n:03d}.png?sig=x"} for n in range(4)]
    with RoboflowClient(emulator.base_url, emulator.api_key, workspace=emulator.workspace) as client:
        client.ingest_image_references(batch_id, ingest_id=f"{batch_id}-0", references=references)
        deadline = time.monotonic() + 120
        while not (shards := list(client.iter_shards(batch_id))) or any(
            s.status_type == "info" for s in shards
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"batch {batch_id} was not indexed in time")
            time.sleep(0.5)
    outcome = RoboflowStartJobOperator(
        task_id="start_job", batch_id=batch_id, workflow_id="image-stats", job_id=f"s{uuid.uuid4().hex[:10]}"
    ).execute(make_context())
    return str(outcome["job_id"])


def wait_for_dag(api: AirflowAPI, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            api.get(f"/api/v2/dags/{DAG_ID}")
            return
        except AirflowAPIError:
            time.sleep(1)
    raise RuntimeError(f"{DAG_ID} never appeared: {api.get('/api/v2/importErrors')}")


def slot_seconds(
    api: AirflowAPI, run_id: str, timeout: float = 600
) -> tuple[dict[str, float], dict[str, str]]:
    """Seconds each task instance was seen running, sampled until the run ends; and its final state."""
    running_for: dict[str, float] = defaultdict(float)
    states: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while time.monotonic() < deadline:
        instances = api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")["task_instances"]
        now = time.monotonic()
        for ti in instances:
            states[ti["task_id"]] = ti["state"] or "none"
            if ti["state"] == "running":
                running_for[ti["task_id"]] += now - last
        last = now
        if api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")["state"] in ("success", "failed"):
            return dict(running_for), states
        time.sleep(SAMPLE_SECONDS)
    raise RuntimeError(f"run {run_id} did not finish within {timeout:.0f} s: {states}")


def measure(workdir: Path) -> tuple[dict[str, float], dict[str, str], float, float]:
    extra = ["--stage-delay", str(STAGE_SECONDS), "--ingest-delay", "0.2"]
    with running(start_roboflow_emulator(extra_args=extra)) as service, image_server() as images:
        emulator = EmulatorHandle(service)
        connection = roboflow_connection(emulator.base_url, emulator.api_key, emulator.workspace)
        dags = workdir / "dags"
        dags.mkdir()
        (dags / "worker_slots.py").write_text(DAG_FILE)
        home = workdir / "airflow-home"
        home.mkdir()
        env = airflow_env(home, dags_folder=dags, connections={"roboflow_default": connection})
        migrate_db(env)
        with running_stack(home, env) as stack:
            api = stack.api()
            wait_for_dag(api)
            with patched_env(connection_env("roboflow_default", connection)):
                job_id = start_job(emulator, images)
            job_started = time.monotonic()
            logical_date = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
            run_id = f"slots__{uuid.uuid4().hex[:8]}"
            api.post(
                f"/api/v2/dags/{DAG_ID}/dagRuns",
                {"dag_run_id": run_id, "logical_date": logical_date.isoformat(), "conf": {"job_id": job_id}},
            )
            seconds, states = slot_seconds(api, run_id)
            run_seconds = time.monotonic() - job_started
    return seconds, states, run_seconds, os.getloadavg()[0]


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-slots-") as scratch:
        seconds, states, run_seconds, load = measure(Path(scratch))
    if any(states.get(mode) != "success" for mode in MODES):
        raise RuntimeError(f"a sensor did not succeed: {states}")
    poke = seconds.get("poke", 0.0)
    detail = (
        f"job of 2 stages x {STAGE_SECONDS} s, run {run_seconds:.0f} s from job start, poke interval "
        f"{POKE_SECONDS:.0f} s (reschedule: {max(POKE_SECONDS, MIN_RESCHEDULE_INTERVAL):.0f} s, the "
        f"sensor's minimum), sampled every {SAMPLE_SECONDS} s, load {load:.1f}"
    )
    return [
        result(
            "worker_slots",
            f"worker-slot seconds, {mode} (lower is better; ratio = poke / {mode})",
            seconds.get(mode, 0.0),
            "s",
            baseline=poke,
            baseline_name="poke mode",
            ratio=poke / seconds[mode] if seconds.get(mode) else None,
            detail=detail,
        )
        for mode in MODES
    ]
