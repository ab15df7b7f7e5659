"""The README's astro.yaml, copied verbatim, runs green against the stand-ins.

Only the connections point elsewhere: ``aws_default`` at moto (an S3-compatible store reachable only
through its endpoint) and ``roboflow_default`` at the emulator. The references file and the results
go to ``s3://`` without a connection of their own, so they must follow the source's connection. A
``defaults`` block ahead of the example accepts the stand-ins' private endpoints, as every stack of
stand-ins does (``preflight.private_endpoints: warn``).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from include.devstack import connections
from include.devstack.airflow_stack import connection_env
from include.devstack.run_results import task_results
from include.devstack.sample_media import sample_images, seed_s3, stand_in_s3_client
from include.roboflow_batch.pipeline.loader import PIPELINES_FILE_ENV

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]


def readme_astro_yaml() -> str:
    [block] = [
        block
        for block in re.findall(r"```yaml\n(.*?)```", (REPO_ROOT / "README.md").read_text(), re.S)
        if "pipelines:" in block
    ]
    return block


def seed_within_one_hour(s3: Any, endpoint_url: str, images: list[Any]) -> datetime:
    """Seed the README's source; returns the start of the hour every seeded object is stamped in (when
    the seeding straddles an hour, it is done again: the same keys, now all in the new hour)."""
    while True:
        keys = seed_s3(endpoint_url, "warehouse-camera-frames", "incoming/", images)
        stamps = {
            s3.head_object(Bucket="warehouse-camera-frames", Key=key)["LastModified"].replace(
                minute=0, second=0, microsecond=0
            )
            for key in keys
        }
        if len(stamps) == 1:
            return stamps.pop().astimezone(UTC)


@pytest.mark.slow
def test_readme_example_runs_green_against_the_stand_ins(
    airflow_db: Path,
    roboflow_emulator: Any,
    moto_server: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    text = readme_astro_yaml()
    assert "defaults:" not in text  # the example's own lines follow unchanged
    path = tmp_path / "astro.yaml"
    path.write_text("defaults:\n  preflight: {private_endpoints: warn}\n" + text)
    monkeypatch.setenv(PIPELINES_FILE_ENV, str(path))
    for name, value in {
        **connection_env("roboflow_default", connections.roboflow_connection(roboflow_emulator.base_url)),
        **connection_env("aws_default", connections.moto_connection(moto_server.url)),
    }.items():
        monkeypatch.setenv(name, value)
    s3 = stand_in_s3_client(moto_server.url)
    for bucket in ("vision-private", "vision-results"):
        if bucket not in {entry["Name"] for entry in s3.list_buckets().get("Buckets", [])}:
            s3.create_bucket(Bucket=bucket)
    images = sample_images(4, prefix="readme", seed=5)
    hour = seed_within_one_hour(s3, moto_server.url, images)

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.get_dag("roboflow_warehouse_cameras")
    dag_run = dag.test(logical_date=hour + timedelta(hours=1, seconds=1))

    tasks = task_results(dag_run.dag_id, dag_run.run_id)
    assert str(dag_run.state) == "success", {task: result["state"] for task, result in tasks.items()}
    folder = f"warehouse_cameras/{hour:%Y%m%dT%H%M}/"
    export = tasks["export"]["value"]
    assert export["destination"].rstrip("/") == f"s3://vision-results/{folder}".rstrip("/")
    manifest = json.loads(s3.get_object(Bucket="vision-results", Key=f"{folder}manifest.json")["Body"].read())
    assert manifest["reconciled"] is True
    assert manifest["ingested"]["count"] == len(images)
    references = s3.list_objects_v2(Bucket="vision-private", Prefix="references/warehouse_cameras/")
    # The references file, and beside it the content it sent (for the processed-content record).
    assert sorted(entry["Key"] for entry in references.get("Contents", [])) == [
        f"references/warehouse_cameras/{hour:%Y%m%dT%H%M}.content.jsonl",
        f"references/warehouse_cameras/{hour:%Y%m%dT%H%M}.jsonl",
    ]
    record = s3.list_objects_v2(
        Bucket="vision-private", Prefix="references/roboflow-state/warehouse_cameras/"
    )
    # The processed-content record's segment, and the spend ledger's record of the one job.
    kinds = sorted(entry["Key"].split("/")[3:5] for entry in record.get("Contents", []))
    assert [kind for kind, _ in kinds] == ["processed-content", "spend"]
    assert kinds[0][1] == "segments"
