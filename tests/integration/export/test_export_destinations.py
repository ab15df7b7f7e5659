"""Export an emulator job to file://, s3:// (moto) and gs:// (GCS emulator); resume without rewrites."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from include.devstack.sample_media import stand_in_s3_client
from include.devstack.task_context import make_context
from include.roboflow_batch.operators.export import RoboflowExportOperator
from include.roboflow_batch.operators.start_job import RoboflowStartJobOperator
from tests.integration.jobs.staging import StagedBatch, roboflow_connection, stage_batch

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def finished_job(roboflow_emulator: Any, image_server: str) -> Iterator[tuple[str, StagedBatch]]:
    """One finished job over a two-shard batch (two result archives), shared by this module's tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(
            "AIRFLOW_CONN_ROBOFLOW_DEFAULT",
            roboflow_connection(
                roboflow_emulator.base_url, roboflow_emulator.api_key, roboflow_emulator.workspace
            ),
        )
        staged = stage_batch(roboflow_emulator, image_server, f"exp-{uuid.uuid4().hex[:10]}")
        result = RoboflowStartJobOperator(
            task_id="start_job",
            batch_id=staged.batch_id,
            workflow_id="image-stats",
            job_id=f"exp-{uuid.uuid4().hex[:8]}",
            wait_for_completion=True,
            deferrable=False,
            poll_interval=0.2,
        ).execute(make_context())
        yield result["job_id"], staged


def export(
    job_id: str, staged: StagedBatch, destination: str, conn_id: str | None = None, **options: Any
) -> dict[str, Any]:
    return RoboflowExportOperator(
        task_id="export",
        job_id=job_id,
        destination=destination,
        destination_conn_id=conn_id,
        expected_count=staged.expected_count,
        max_concurrency=4,
        **options,
    ).execute(make_context())


def test_local_export_resumes_without_rewriting_existing_files(
    finished_job: tuple[str, StagedBatch], roboflow_conn: str, export_dir: Path
) -> None:
    job_id, staged = finished_job
    first = export(job_id, staged, f"file://{export_dir}")
    assert first["reconciled"] is True
    manifest = json.loads((export_dir / "manifest.json").read_text())
    paths = [entry["path"] for entry in manifest["files"]]
    assert len(paths) == 2, paths  # one result file per shard

    kept, lost = export_dir / paths[0], export_dir / paths[1]
    kept_mtime = kept.stat().st_mtime_ns
    lost.unlink()  # the destination now holds half the files

    second = export(job_id, staged, f"file://{export_dir}")
    assert (second["files_written"], second["files_skipped"]) == (1, 1)
    assert kept.stat().st_mtime_ns == kept_mtime
    assert lost.exists()
    assert second["reconciled"] is True
    assert json.loads((export_dir / "manifest.json").read_text())["files"] == manifest["files"]


@pytest.mark.parametrize("stage", ["export", "processing"])
def test_worker_processes_write_the_same_files_as_threads_and_resume(
    finished_job: tuple[str, StagedBatch], roboflow_conn: str, tmp_path: Path, stage: str
) -> None:
    job_id, staged = finished_job
    threads = export(job_id, staged, f"file://{tmp_path / 'threads'}", stage=stage, transfer_processes=0)
    workers = export(job_id, staged, f"file://{tmp_path / 'workers'}", stage=stage, transfer_processes=2)
    assert workers["files_written"] == threads["files_written"] > 0
    assert workers["reconciled"] is threads["reconciled"] is True
    in_threads = json.loads((tmp_path / "threads" / "manifest.json").read_text())
    in_workers = json.loads((tmp_path / "workers" / "manifest.json").read_text())
    assert in_workers["files"] == in_threads["files"]
    assert in_workers["results"] == in_threads["results"]
    again = export(job_id, staged, f"file://{tmp_path / 'workers'}", stage=stage, transfer_processes=2)
    assert (again["files_written"], again["files_skipped"]) == (0, threads["files_written"])


@pytest.fixture
def s3_bucket(moto_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:

    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_MOTO",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": moto_server.url, "region_name": "us-east-1"},
            }
        ),
    )
    client = stand_in_s3_client(moto_server.url)
    bucket = f"export-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return client, bucket


def test_s3_export_writes_complete_objects_and_resumes(
    finished_job: tuple[str, StagedBatch], roboflow_conn: str, s3_bucket: Any
) -> None:
    client, bucket = s3_bucket
    job_id, staged = finished_job
    destination = f"s3://{bucket}/results/run-1"
    first = export(job_id, staged, destination, "aws_moto")
    assert first["reconciled"] is True
    assert first["manifest_uri"] == f"{destination}/manifest.json"

    manifest = json.loads(client.get_object(Bucket=bucket, Key="results/run-1/manifest.json")["Body"].read())
    assert manifest["reconciled"] is True
    result_keys = [f"results/run-1/{entry['path']}" for entry in manifest["files"]]
    for entry, key in zip(manifest["files"], result_keys, strict=True):
        assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] == entry["size"]
    listed = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix="results/run-1/")["Contents"]]
    assert not [key for key in listed if key.endswith(".part")]

    client.delete_object(Bucket=bucket, Key=result_keys[1])  # half of the results are gone
    second = export(job_id, staged, destination, "aws_moto")
    assert (second["files_written"], second["files_skipped"]) == (1, 1)
    assert second["reconciled"] is True
    versions = client.list_object_versions(Bucket=bucket, Prefix=result_keys[0])["Versions"]
    assert len(versions) == 1  # the surviving object was not uploaded again


def test_gcs_export_reconciles_and_a_rerun_uploads_nothing(
    finished_job: tuple[str, StagedBatch],
    roboflow_conn: str,
    gcs_emulator: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gcsfs
    import gcsfs.core
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    # gcsfs' default filesystem probes bucket types over gRPC, which the emulator does not speak.
    monkeypatch.setattr(gcsfs, "GCSFileSystem", gcsfs.core.GCSFileSystem)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_GCS_EMULATOR",
        json.dumps(
            {
                "conn_type": "google_cloud_platform",
                "extra": {"is_anonymous": True, "project": "test-project", "gcs.endpoint": gcs_emulator.url},
            }
        ),
    )
    client = storage.Client(project="test-project", credentials=AnonymousCredentials())
    bucket = client.create_bucket(f"export-{uuid.uuid4().hex[:8]}")
    job_id, staged = finished_job
    destination = f"gs://{bucket.name}/out"

    first = export(job_id, staged, destination, "gcs_emulator")
    assert first["reconciled"] is True
    manifest = json.loads(bucket.blob("out/manifest.json").download_as_bytes())
    assert manifest["reconciled"] is True
    updated = {}
    for entry in manifest["files"]:
        blob = bucket.get_blob(f"out/{entry['path']}")
        assert blob.size == entry["size"]
        updated[entry["path"]] = blob.updated

    second = export(job_id, staged, destination, "gcs_emulator")
    assert (second["files_written"], second["files_skipped"]) == (0, len(manifest["files"]))
    assert {path: bucket.get_blob(f"out/{path}").updated for path in updated} == updated
