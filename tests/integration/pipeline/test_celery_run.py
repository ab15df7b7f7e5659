"""One pipeline run under CeleryExecutor with a Redis broker and two workers that share nothing local.

Each worker has its own working directory, TMPDIR, HOME and AIRFLOW_HOME (with a metadata DB path
that does not exist: a worker that touched the DB would fail). A cluster policy puts consecutive
steps on alternating queues, one queue per worker, so every step runs on the other worker than the
step before it: anything a task left on local disk for the next one would be missing. References
and results live in S3 (moto), as in production.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from include.devstack import connections
from include.devstack.airflow_stack import (
    AirflowAPI,
    AirflowAPIError,
    Component,
    airflow_bin,
    airflow_env,
    ensure_pool,
    running_stack,
)
from include.devstack.redis_server import redis_url, start_redis
from include.devstack.sample_media import sample_images, seed_s3, stand_in_s3_client
from include.devstack.services import REPO_ROOT, running, start_roboflow_emulator
from tests.integration.pipeline.conftest import TEST_DEFAULTS
from tests.integration.pipeline.file_clock import boundary
from tests.integration.pipeline.test_scheduler_run import follow_run, returned
from tests.shared_stack import migrated_home

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

DAG_ID = "roboflow_celery_s3"
BUCKET = "it-celery"
QUEUES = ("worker_a", "worker_b")
STEPS = (
    "plan",
    "preflight",
    "list_new_objects",
    "plan_chunks",
    "spend_gate",
    "ingest",
    "wait_for_batch",
    "start_job",
    "wait_for_job",
    "account_spend",
    "export",
    "reconcile",
)

# Loaded by every component from $AIRFLOW_HOME/config: consecutive steps alternate between queues.
CLUSTER_POLICY = f"""
STEPS = {STEPS!r}
QUEUES = {QUEUES!r}


def task_policy(task):
    if task.task_id in STEPS:
        task.queue = QUEUES[STEPS.index(task.task_id) % 2]
"""


def celery_pipeline() -> dict[str, Any]:
    return {
        "id": "celery_s3",
        "schedule": None,  # manual runs only: no scheduled run competes with the one under test
        "source": {
            "kind": "s3",
            "conn_id": "it_s3",
            "bucket": BUCKET,
            "prefix": "cams/",
            "url_expiry": "1h",
            "references_uri": f"s3://{BUCKET}/private/{{pipeline}}-{{interval_start:%Y%m%dT%H%M%S}}.jsonl",
            "references_conn_id": "it_s3",
        },
        "workflow": {"id": "bright-spot-detector"},
        "export": {
            "destination": f"s3://{BUCKET}/results/{{pipeline}}/{{interval_start:%Y%m%dT%H%M%S}}/",
            "conn_id": "it_s3",
        },
    }


def start_worker(name: str, queue: str, root: Path, env: dict[str, str]) -> Component:
    """``airflow celery worker`` in a directory of its own: cwd, HOME, TMPDIR and AIRFLOW_HOME."""
    home = root / name
    for sub in ("cwd", "home", "tmp", "airflow", "airflow/logs"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    worker_env = {
        **os.environ,
        **env,
        "HOME": str(home / "home"),
        "TMPDIR": str(home / "tmp"),
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "airflow" / "logs"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow' / 'absent' / 'no.db'}",
    }
    log_path = root / f"{name}.log"
    argv = [airflow_bin(), "celery", "worker", "--queues", queue, "--concurrency", "2"]
    # No log server: it would listen on every interface, and the test reads the log files itself.
    argv += ["--celery-hostname", f"{name}@%h", "--skip-serve-logs"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=worker_env,
            cwd=str(home / "cwd"),
        )
    return Component(name, process, log_path)


def task_logs_by_worker(root: Path, run_id: str) -> dict[str, list[str]]:
    """Which worker wrote a log for which step of the run (each logs under its own AIRFLOW_HOME)."""
    ran: dict[str, list[str]] = {}
    for worker in QUEUES:
        logs = root / worker / "airflow" / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}"
        ran[worker] = sorted({_task_id_of(path) for path in logs.rglob("*.log")})
    return ran


def _task_id_of(log: Path) -> str:
    """``task_id=X/attempt=1.log``, or for a mapped task ``task_id=X/map_index=N/attempt=1.log``."""
    folder = next(part for part in reversed(log.parent.parts) if part.startswith("task_id="))
    return folder.removeprefix("task_id=")


def trigger_window(api: AirflowAPI, run_id: str, window: dict[str, str]) -> None:
    """A manual run of that window, with an explicit id: a retried POST that meets 409 is fine."""
    body = {"dag_run_id": run_id, "logical_date": None, "conf": window}
    try:
        api.post(f"/api/v2/dags/{DAG_ID}/dagRuns", body)
    except AirflowAPIError as error:
        if error.status_code != 409:
            raise


def test_pipeline_run_on_two_celery_workers_sharing_no_local_files(moto_server: Any, tmp_path: Path) -> None:
    images = sample_images(6, prefix="celery", seed=53)
    seed_s3(moto_server.url, BUCKET, "cams/", images)
    home = tmp_path / "airflow-home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "airflow_local_settings.py").write_text(CLUSTER_POLICY)
    pipelines_file = tmp_path / "deploy" / "astro.yaml"
    pipelines_file.parent.mkdir()
    pipelines_file.write_text(yaml.safe_dump({"defaults": TEST_DEFAULTS, "pipelines": [celery_pipeline()]}))
    emulator = start_roboflow_emulator(extra_args=["--ingest-delay", "3", "--stage-delay", "2"])
    broker = start_redis(tmp_path)
    workers: list[Component] = []
    started = time.monotonic()
    with running(emulator), running(broker):
        env = airflow_env(
            home,
            connections={
                "roboflow_default": connections.roboflow_connection(emulator.url),
                "it_s3": connections.moto_connection(moto_server.url),
            },
            extra={
                "ROBOFLOW_PIPELINES_FILE": str(pipelines_file),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CELERY__BROKER_URL": redis_url(broker, 0),
                "AIRFLOW__CELERY__RESULT_BACKEND": redis_url(broker, 1),
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
                # A shared 2-core machine can keep the api-server busy for more than the default 5 s.
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
                "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{home / 'config'}",
            },
        )
        migrated_home(home)
        ensure_pool(env)
        with running_stack(home, env) as stack:
            try:
                for name, queue in zip(("worker_a", "worker_b"), QUEUES, strict=True):
                    workers.append(start_worker(name, queue, tmp_path, stack.env))
                api = stack.api()
                api.wait_for_dags(DAG_ID)
                now = datetime.now(UTC).replace(microsecond=0)
                window = {
                    "window_start": (now - timedelta(minutes=10)).isoformat(),
                    "window_end": boundary(tmp_path / "clock").isoformat(),
                }
                run_id = f"celery__{now:%Y%m%dT%H%M%S}"
                run_started = time.monotonic()
                trigger_window(api, run_id, window)
                state, seen = follow_run(api, DAG_ID, run_id, timeout=400)
                run_seconds = time.monotonic() - run_started
                export = returned(api, DAG_ID, run_id, "reconcile") if state == "success" else {}
                ti_hosts = {
                    ti["task_id"]: ti["queue"]
                    for ti in api.get(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")[
                        "task_instances"
                    ]
                }
            finally:
                for worker in workers:
                    worker.terminate()
                for worker in workers:
                    worker.stop(timeout=30)

    worker_tails = {w.name: "\n".join(w.log_text().splitlines()[-40:]) for w in workers}
    assert state == "success", (dict(seen), worker_tails)
    ran = task_logs_by_worker(tmp_path, run_id)
    print(
        f"\nCelery run: {run_seconds:.1f}s run, {time.monotonic() - started:.1f}s with set-up; "
        f"tasks per worker: { {w: len(tasks) for w, tasks in ran.items()} } {ran}"
    )
    # Every step ran on the worker of its queue, so no two consecutive steps shared a disk.
    for index, step in enumerate(STEPS):
        assert ti_hosts[step] == QUEUES[index % 2], ti_hosts
        assert step in ran[QUEUES[index % 2]], ran
        assert step not in ran[QUEUES[(index + 1) % 2]], ran
    assert export["reconciled"] is True
    assert export["destination"].startswith(f"s3://{BUCKET}/results/celery_s3/")
    # The results are in the shared store, not on either worker's disk.
    s3 = stand_in_s3_client(moto_server.url)
    prefix = export["destination"].removeprefix(f"s3://{BUCKET}/")
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]
    manifest_key = next(key for key in keys if key.endswith("manifest.json"))
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
    assert manifest["reconciled"] is True
    assert export["result_rows"] == len(images)
    assert all(worker.process.poll() is not None for worker in workers)
    assert broker.process.poll() is not None
