"""Worker-slot seconds while a 60 s Roboflow job runs: the job sensor deferrable vs reschedule vs poke.

A real api-server, scheduler (LocalExecutor), dag-processor and triggerer run one DAG with three
``RoboflowJobSensor`` tasks watching the same job, one per waiting mode. The job runs on the emulator
with a minimum of 30 s per stage (two stages). A task holds an executor slot while its task process runs
(``deferred`` and ``up_for_reschedule`` hold none): each run of the task process is read from the
task's own log, from its first line ("Pre Execute", written before the supervisor hands it the task)
to its last, so the figure does not depend on how quickly a loaded api-server answers a poller. The
REST API is polled only for the run's end and the final states. Lower is better; ratios are
poke / mode.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import result
from bench.bench_export import image_server
from bench.bench_references import environment
from include.devstack.airflow_stack import (
    AirflowAPI,
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
# The task runner's first log line of every run of the task process.
PROCESS_START_EVENT = "::group::Pre Execute"
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


WARM_UP_DAG_ID = "bench_worker_slots_warm_up"

# Task processes of a first run pay for the api-server's and the workers' cold start (tens of seconds
# on a loaded machine); a run of three empty tasks first measures the sensors on a warm stack.
WARM_UP_DAG = f'''
from datetime import datetime

from airflow.sdk import DAG, task


@task
def nothing() -> None:
    return None


with DAG("{WARM_UP_DAG_ID}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    for n in range(3):
        nothing.override(task_id=f"nothing_{{n}}")()
'''


def start_job(emulator: EmulatorHandle, images: str) -> str:
    """An indexed batch of a few images and a started (not finished) image-stats job over it."""
    from include.devstack.task_context import make_context
    from include.roboflow_batch.api.client import RoboflowClient
    from include.roboflow_batch.operators.start_job import RoboflowStartJobOperator

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


def trigger(api: AirflowAPI, dag_id: str, conf: dict[str, Any]) -> str:
    logical_date = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    run_id = f"slots__{uuid.uuid4().hex[:8]}"
    api.post(
        f"/api/v2/dags/{dag_id}/dagRuns",
        {"dag_run_id": run_id, "logical_date": logical_date.isoformat(), "conf": conf},
    )
    return run_id


def wait_for_run(api: AirflowAPI, run_id: str, dag_id: str = DAG_ID, timeout: float = 600) -> dict[str, str]:
    """Poll until the run ends; the final state of each task instance."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ended = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"] in ("success", "failed")
        instances = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        states = {ti["task_id"]: ti["state"] or "none" for ti in instances}
        if ended:
            return states
        time.sleep(SAMPLE_SECONDS)
    raise RuntimeError(f"run {run_id} did not finish within {timeout:.0f} s: {states}")


def task_log(home: Path, run_id: str, task_id: str) -> Path:
    """The task's log of its first try (the trigger's log lives beside it, under another name)."""
    return home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / f"task_id={task_id}" / "attempt=1.log"


def process_runs(log_path: Path) -> list[float]:
    """Seconds of each run of the task process: from its first log line to its last."""
    runs: list[list[datetime]] = []
    for line in log_path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["timestamp"])
        except (ValueError, KeyError, TypeError):
            continue
        if entry.get("event") == PROCESS_START_EVENT or not runs:
            runs.append([at, at])
        runs[-1][1] = at
    if not runs:
        raise RuntimeError(f"{log_path} holds no task log lines")
    return [(end - start).total_seconds() for start, end in runs]


def failure_tail(log_path: Path, lines: int = 12) -> str:
    """The last events of a task's log, to say why it did not succeed."""
    if not log_path.exists():
        return f"(no log at {log_path})"
    events = []
    for line in log_path.read_text(errors="replace").splitlines()[-lines:]:
        try:
            entry = json.loads(line)
        except ValueError:
            events.append(line[:300])
            continue
        events.append(
            f"{entry.get('level', '')}: {entry.get('event', '')} {entry.get('error_detail', '')}"[:600]
        )
    return "\n    ".join(events)


def measure(workdir: Path) -> tuple[dict[str, list[float]], dict[str, str], float, float]:
    extra = ["--stage-delay", str(STAGE_SECONDS), "--ingest-delay", "0.2"]
    with running(start_roboflow_emulator(extra_args=extra)) as service, image_server() as images:
        emulator = EmulatorHandle(service)
        connection = roboflow_connection(emulator.base_url, emulator.api_key, emulator.workspace)
        dags = workdir / "dags"
        dags.mkdir()
        (dags / "worker_slots.py").write_text(DAG_FILE)
        (dags / "worker_slots_warm_up.py").write_text(WARM_UP_DAG)
        home = workdir / "airflow-home"
        home.mkdir()
        env = airflow_env(home, dags_folder=dags, connections={"roboflow_default": connection})
        migrate_db(env)
        with running_stack(home, env) as stack:
            api = stack.api()
            api.wait_for_dags(WARM_UP_DAG_ID, timeout=300)
            warm_up = wait_for_run(api, trigger(api, WARM_UP_DAG_ID, {}), WARM_UP_DAG_ID)
            if set(warm_up.values()) != {"success"}:
                raise RuntimeError(f"the warm-up run did not succeed: {warm_up}")
            api.wait_for_dags(DAG_ID, timeout=300)
            with environment(**connection_env("roboflow_default", connection)):
                job_id = start_job(emulator, images)
            job_started = time.monotonic()
            run_id = trigger(api, DAG_ID, {"job_id": job_id})
            states = wait_for_run(api, run_id)
            run_seconds = time.monotonic() - job_started
            load = os.getloadavg()[0]
    failed = [mode for mode in MODES if states.get(mode) != "success"]
    if failed:
        tails = "\n".join(f"  {mode}:\n    {failure_tail(task_log(home, run_id, mode))}" for mode in failed)
        raise RuntimeError(f"a sensor did not succeed: {states}\n{tails}")
    runs = {mode: process_runs(task_log(home, run_id, mode)) for mode in MODES}
    return runs, states, run_seconds, load


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-slots-") as scratch:
        runs, _states, run_seconds, load = measure(Path(scratch))
    seconds = {mode: sum(spans) for mode, spans in runs.items()}
    poke = seconds["poke"]
    spans = "; ".join(f"{mode} {' + '.join(f'{s:.1f}' for s in runs[mode])} s" for mode in MODES)
    detail = (
        f"job of 2 stages x {STAGE_SECONDS} s, run {run_seconds:.0f} s from job start, poke interval "
        f"{POKE_SECONDS:.0f} s (reschedule: {max(POKE_SECONDS, MIN_RESCHEDULE_INTERVAL):.0f} s, the "
        f"sensor's minimum); task process runs: {spans}; load {load:.1f}"
    )
    return [
        result(
            "worker_slots",
            f"worker-slot seconds, {mode} (lower is better; ratio = poke / {mode})",
            seconds[mode],
            "s",
            baseline=poke,
            baseline_name="poke mode",
            ratio=poke / seconds[mode] if seconds[mode] else None,
            detail=detail,
        )
        for mode in MODES
    ]
