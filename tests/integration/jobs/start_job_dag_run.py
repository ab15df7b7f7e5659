"""Run a one-task DAG (start a job and wait for it, deferrable) through ``dag.test()`` in this process.

Used by the worker-kill test as a separate process that can really be killed:
``python -m tests.integration.jobs.start_job_dag_run <dag_id> <batch_id>``. It uses the Airflow home
and connections of its environment, so the real ``task_state_store`` in the metadata DB is used.
Exit code 0 when the DAG run succeeded.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

LOGICAL_DATE = datetime(2026, 11, 28, 10, tzinfo=UTC)


def main(dag_id: str, batch_id: str) -> int:
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.sdk import DAG

    from include.roboflow_batch.operators.start_job import RoboflowStartJobOperator

    with DAG(dag_id, schedule=None, start_date=LOGICAL_DATE, catchup=False) as dag:
        RoboflowStartJobOperator(
            task_id="start_job",
            batch_id=batch_id,
            workflow_id="image-stats",
            wait_for_completion=True,
            deferrable=True,
            poll_interval=0.2,
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
    sys.exit(main(sys.argv[1], sys.argv[2]))
