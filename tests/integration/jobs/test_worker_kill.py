"""A task killed while its job runs: SIGKILL then a retry leaves exactly one job; SIGTERM aborts the
job (the task's on_kill) and the next run of the interval restarts it and finishes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from include.devstack.services import start_roboflow_emulator
from include.roboflow_batch.api.client import RoboflowClient
from include.roboflow_emulator.testing import EmulatorHandle
from tests.integration.jobs.staging import roboflow_connection, stage_batch
from tests.integration.worker_process import start_module, wait_for
from tests.integration.worker_process import worker_env as process_env

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

JOB_ROUTE = "GET /batch-processing/v1/external/{workspace}/jobs/{jobId}"


@pytest.fixture(scope="module")
def slow_emulator() -> Iterator[EmulatorHandle]:
    """An emulator whose job stages last until a test lets them go, so a worker is killed mid-wait."""
    service = start_roboflow_emulator(extra_args=["--ingest-delay", "0.1", "--stage-delay", "600"])
    try:
        yield EmulatorHandle(service)
    finally:
        service.stop()


def start_worker(
    dag_id: str, batch_id: str, env: dict[str, str], log: Path, wait: str = "deferred"
) -> subprocess.Popen[bytes]:
    return start_module("tests.integration.jobs.start_job_dag_run", [dag_id, batch_id, wait], env, log)


def stored_job_id(db: Path, dag_id: str) -> str | None:
    with sqlite3.connect(db, timeout=5) as conn:
        row = conn.execute(
            "SELECT value FROM task_state_store WHERE dag_id = ? AND task_id = 'start_job' "
            "AND key = 'roboflow_job_id'",
            (dag_id,),
        ).fetchone()
    return json.loads(row[0]) if row else None


def job_polls(emulator: EmulatorHandle) -> int:
    """How often the job has been looked at on this emulator so far."""
    return int(emulator.state()["requests"].get(JOB_ROUTE, 0))


def worker_env(emulator: EmulatorHandle, tmp_path: Path) -> dict[str, str]:
    return process_env(
        tmp_path,
        AIRFLOW_CONN_ROBOFLOW_DEFAULT=roboflow_connection(
            emulator.base_url, emulator.api_key, emulator.workspace
        ),
    )


def test_killed_worker_then_retry_leaves_exactly_one_job(
    slow_emulator: EmulatorHandle, image_server: str, airflow_db: Path, tmp_path: Path
) -> None:
    slow_emulator.set_delays(stage_delay=600)  # held in processing until the worker is killed
    created_before = set(slow_emulator.state()["jobCreations"])  # the module's tests share the emulator
    staged = stage_batch(slow_emulator, image_server, f"kill-{uuid.uuid4().hex[:10]}")
    dag_id = f"kill_test_{uuid.uuid4().hex[:8]}"
    env = worker_env(slow_emulator, tmp_path)
    db = airflow_db / "airflow.db"
    log = tmp_path / "worker.log"

    worker = start_worker(dag_id, staged.batch_id, env, log)
    try:
        job_id = wait_for(
            lambda: stored_job_id(db, dag_id), 300, "the job id in task_state_store", log, worker
        )
        wait_for(
            lambda: slow_emulator.state()["jobCreations"].get(job_id), 60, "the job creation", log, worker
        )
        polls = job_polls(slow_emulator)
        wait_for(lambda: job_polls(slow_emulator) >= polls + 2, 60, "the wait to poll twice", log, worker)
        assert worker.poll() is None, "the worker finished before it could be killed"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
    assert worker.returncode == -signal.SIGKILL

    with RoboflowClient(
        slow_emulator.base_url, slow_emulator.api_key, workspace=slow_emulator.workspace
    ) as client:
        assert client.get_job(job_id).is_terminal is False  # killed mid-wait: the job still runs remotely

    slow_emulator.set_delays(stage_delay=0.5)
    retry = start_worker(dag_id, staged.batch_id, env, log)
    assert retry.wait(timeout=300) == 0, log.read_text(errors="replace")[-4000:]

    output = log.read_text(errors="replace")
    assert "re-attaching instead of starting a new one" in output
    creations = slow_emulator.state()["jobCreations"]
    assert {job: count for job, count in creations.items() if job not in created_before} == {job_id: 1}
    with sqlite3.connect(db, timeout=5) as conn:
        xcoms = dict(
            conn.execute(
                "SELECT key, value FROM xcom WHERE dag_id = ? AND task_id = 'start_job'", (dag_id,)
            ).fetchall()
        )
    # The "Roboflow job" extra link was stored by the real task runner, pointing at the one job.
    assert job_id in str(xcoms["_link_RoboflowJobLink"])
    assert job_id in str(xcoms["job_url"])


@pytest.mark.parametrize("wait", ["polled", "sensor-poke"])
def test_terminated_task_aborts_its_job_and_the_next_run_restarts_it(
    wait: str, slow_emulator: EmulatorHandle, image_server: str, airflow_db: Path, tmp_path: Path
) -> None:
    """SIGTERM (a worker shutting down, a task marked failed) reaches the task runner's handler, which
    calls on_kill: the job is aborted, not left running unwatched; the next run restarts that job."""
    slow_emulator.set_delays(stage_delay=600)  # held in processing, where a job can be aborted
    staged = stage_batch(slow_emulator, image_server, f"term-{uuid.uuid4().hex[:10]}")
    dag_id = f"term_test_{uuid.uuid4().hex[:8]}"
    created_before = set(slow_emulator.state()["jobCreations"])
    env = worker_env(slow_emulator, tmp_path)
    db = airflow_db / "airflow.db"
    log = tmp_path / "worker.log"

    worker = start_worker(dag_id, staged.batch_id, env, log, wait)
    try:
        job_id = wait_for(
            lambda: stored_job_id(db, dag_id), 300, "the job id in task_state_store", log, worker
        )
        wait_for(
            lambda: slow_emulator.state()["jobCreations"].get(job_id), 60, "the job creation", log, worker
        )
        if wait == "sensor-poke":
            wait_for(lambda: "wait_for_job" in log.read_text(errors="replace"), 120, "the wait", log, worker)
        polls = job_polls(slow_emulator)
        wait_for(lambda: job_polls(slow_emulator) >= polls + 2, 60, "the wait to poll twice", log, worker)
        assert worker.poll() is None, "the worker finished before it could be terminated"
        os.kill(worker.pid, signal.SIGTERM)
        returncode = worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
    output = log.read_text(errors="replace")
    assert returncode == 1, output[-4000:]  # the run failed: the task saw its job aborted

    with RoboflowClient(
        slow_emulator.base_url, slow_emulator.api_key, workspace=slow_emulator.workspace
    ) as client:
        killed = client.get_job(job_id)
        assert (killed.is_terminal, killed.error) == (True, True), "on_kill did not abort the job"
        assert "aborted" in str(killed.last_notification).lower()

        slow_emulator.set_delays(stage_delay=0.5)
        rerun = start_worker(dag_id, staged.batch_id, env, log, wait)
        assert rerun.wait(timeout=300) == 0, log.read_text(errors="replace")[-4000:]
        finished = client.get_job(job_id)
    assert (finished.is_terminal, finished.error) == (True, False)
    creations = slow_emulator.state()["jobCreations"]
    assert {job: count for job, count in creations.items() if job not in created_before} == {job_id: 1}
    assert f"Restarted Roboflow job {job_id}" in log.read_text(errors="replace")
