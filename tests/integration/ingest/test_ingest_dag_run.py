"""The ingest operator and the readiness sensor in a real DAG run (``dag.test()``).

This exercises what a unit test cannot: the task runner's context (real task state store, data
interval for the derived batch id) and the templated XCom hand-off of batch id and expected count.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG, CronDataIntervalTimetable

from include.roboflow_batch.operators.ingest import RoboflowIngestOperator
from include.roboflow_batch.sensors.batch_ready import RoboflowBatchReadySensor
from tests.integration.ingest.conftest import png_bytes

pytestmark = pytest.mark.integration


def test_ingest_then_wait_for_readiness_in_a_dag_run(
    airflow_db: Path, roboflow_emulator: Any, roboflow_conn: str, tmp_path: Path
) -> None:
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.utils.state import DagRunState, TaskInstanceState

    for i in range(40):
        (tmp_path / f"img-{i:02d}.png").write_bytes(png_bytes(500 + i))
    dag_id = f"ingest_it_{uuid.uuid4().hex[:8]}"
    with DAG(
        dag_id,
        schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        # Templates render to values: the expected count stays a number.
        render_template_as_native_obj=True,
    ) as dag:
        ingest = RoboflowIngestOperator(
            task_id="ingest",
            local_directory=str(tmp_path),
            simple_upload_limit=8,
            images_per_tar=16,
            roboflow_conn_id=roboflow_conn,
        )
        ready = RoboflowBatchReadySensor(
            task_id="ready",
            batch_id="{{ ti.xcom_pull(task_ids='ingest')['batch_id'] }}",
            expected_count="{{ ti.xcom_pull(task_ids='ingest')['expected_count'] }}",
            poke_interval=0.2,
            timeout=timedelta(minutes=2),
            roboflow_conn_id=roboflow_conn,
        )
        ingest >> ready

    # The run needs the DAG serialised in a known bundle, as the dag-processor would leave it.
    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=os.devnull, collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)
    run = dag.test(logical_date=datetime(2026, 3, 1, 5, tzinfo=UTC))

    assert run.state == DagRunState.SUCCESS
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"ingest": TaskInstanceState.SUCCESS, "ready": TaskInstanceState.SUCCESS}
    batches = roboflow_emulator.state()["batches"]
    derived = [batch_id for batch_id in batches if batch_id.startswith(dag_id.replace("_", "-"))]
    assert len(derived) == 1
    assert batches[derived[0]]["fileCount"] == 40
    assert batches[derived[0]]["batchType"] == "sharded-batch"
