"""Run a one-run DAG that starts a job and waits for it, through ``dag.test()`` in this process.

Used by the worker-kill tests as a separate process that can really be killed:
``python -m tests.integration.jobs.start_job_dag_run <dag_id> <batch_id> [<wait>]``, where ``wait`` is
``deferred`` (default: start_job waits on the triggerer), ``polled`` (start_job polls on the worker)
or ``sensor-poke`` (start_job starts the job, a job sensor in poke mode waits on the worker). It uses
the Airflow home and connections of its environment, so the real ``task_state_store`` in the metadata
DB is used. Exit code 0 when the DAG run succeeded.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

LOGICAL_DATE = datetime(2026, 11, 28, 10, tzinfo=UTC)
WAITS = ("deferred", "polled", "sensor-poke")


def main(dag_id: str, batch_id: str, wait: str = "deferred") -> int:
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.sdk import DAG

    from include.roboflow_batch.operators.start_job import RoboflowStartJobOperator
    from include.roboflow_batch.sensors.job import RoboflowJobSensor

    if wait not in WAITS:
        raise SystemExit(f"wait must be one of {WAITS}, got {wait!r}")
    with DAG(dag_id, schedule=None, start_date=LOGICAL_DATE, catchup=False) as dag:
        start = RoboflowStartJobOperator(
            task_id="start_job",
            batch_id=batch_id,
            workflow_id="image-stats",
            wait_for_completion=wait != "sensor-poke",
            deferrable=wait == "deferred",
            poll_interval=0.2,
        )
        if wait == "sensor-poke":
            start >> RoboflowJobSensor(
                task_id="wait_for_job",
                job_id="{{ ti.xcom_pull(task_ids='start_job')['job_id'] }}",
                deferrable=False,
                mode="poke",
                poke_interval=0.2,
                timeout=300,
            )
    # A DAG built in code is not in any bundle: register it, or dag.test() refuses to run it.
    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=os.devnull, collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
    run = dag.test(logical_date=LOGICAL_DATE)
    print(f"DAG RUN STATE: {run.state}", flush=True)
    return 0 if str(run.state) in ("success", "DagRunState.SUCCESS") else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
