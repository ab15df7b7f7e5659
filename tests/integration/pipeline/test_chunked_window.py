"""A window larger than ``max_batch_objects`` fans out into several batches and jobs, end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from include.devstack.run_results import local_path, result_rows
from include.devstack.sample_media import sample_images, seed_s3
from tests.integration.pipeline.conftest import PipelineRun, object_store_pipeline
from tests.integration.pipeline.file_clock import boundary

pytestmark = pytest.mark.integration

OBJECTS, PER_BATCH = 40, 15
MAPPED_STEPS = ("ingest", "wait_for_batch", "start_job", "wait_for_job", "export")


def chunk_results(run: PipelineRun, task_id: str) -> list[dict[str, Any]]:
    """What every map index of ``task_id`` returned, in map-index order."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(XComModel.map_index, XComModel.value)
            .where(
                XComModel.dag_id == run.dag_run.dag_id,
                XComModel.run_id == run.dag_run.run_id,
                XComModel.task_id == task_id,
                XComModel.key == "return_value",
            )
            .order_by(XComModel.map_index)
        ).all()
    return [json.loads(value) if isinstance(value, str | bytes) else value for _, value in rows]


def test_window_over_the_limit_runs_as_several_batches_and_jobs_with_one_manifest(
    run_pipeline: Callable[..., PipelineRun], moto_server: Any, roboflow_emulator: Any, tmp_path: Path
) -> None:
    images = sample_images(OBJECTS, prefix="fleet", seed=71)
    seed_s3(moto_server.url, "it-s3-fleet", "fleet/", images)
    pipeline = object_store_pipeline(
        "it_s3_fleet", "s3", "it-s3-fleet", "fleet/", tmp_path, max_batch_objects=PER_BATCH
    )
    logical_date = boundary(tmp_path / "clock")  # after what was written: it is in the hour that ends

    run = run_pipeline(pipeline, logical_date)

    assert run.state == "success", run.tasks
    listing = run.value("list_new_objects")
    assert listing["count"] == OBJECTS
    assert [chunk["count"] for chunk in listing["chunks"]] == [15, 15, 10]
    specs = run.value("plan_chunks")
    batch_ids = [spec["batch_id"] for spec in specs]
    job_ids = [spec["job_id"] for spec in specs]
    assert len(set(batch_ids)) == len(set(job_ids)) == 3
    for task_id in MAPPED_STEPS:
        assert len(chunk_results(run, task_id)) == 3, task_id
    assert [r["expected_count"] for r in chunk_results(run, "ingest")] == [15, 15, 10]
    assert [r["job_id"] for r in chunk_results(run, "start_job")] == job_ids
    # Each chunk's wait and export got the values of their own chunk, as numbers and lists.
    assert [r["expected"] for r in chunk_results(run, "wait_for_batch")] == [15, 15, 10]
    assert [r["job_id"] for r in chunk_results(run, "wait_for_job")] == job_ids

    state = roboflow_emulator.state()
    staged = {batch_id: state["batches"][batch_id] for batch_id in batch_ids}
    assert [staged[batch_id]["fileCount"] for batch_id in batch_ids] == [15, 15, 10]
    assert {job_id: state["jobCreations"][job_id] for job_id in job_ids} == dict.fromkeys(job_ids, 1)

    # One manifest for the window, in the run's export folder, adding up every chunk.
    reconcile = run.value("reconcile")
    assert reconcile["reconciled"] is True
    assert reconcile["chunks"] == 3
    manifest_path = local_path(reconcile["manifest_uri"])
    assert manifest_path.parent == local_path(reconcile["destination"].rstrip("/"))
    manifest = json.loads(manifest_path.read_text())
    assert manifest["reconciled"] is True and all(manifest["checks"].values()), manifest["checks"]
    assert manifest["inputs"] == {"listed": OBJECTS, "expected": OBJECTS}
    assert manifest["ingested"]["count"] == OBJECTS
    assert manifest["failed"]["count"] == 0
    assert manifest["results"]["rows"] == OBJECTS
    assert [chunk["batch_id"] for chunk in manifest["chunks"]] == batch_ids
    for chunk in manifest["chunks"]:
        chunk_manifest = json.loads(local_path(chunk["manifest"]).read_text())
        assert chunk_manifest["reconciled"] is True
        assert chunk_manifest["job_id"] == chunk["job_id"]
        assert chunk_manifest["inputs"] == {"expected": chunk["references_count"], "source": "expected_count"}
        assert [(e["action"], e["job_id"]) for e in chunk_manifest["job_history"]] == [
            ("create", chunk["job_id"])
        ]

    # Every image has exactly one result row across the chunk folders.
    rows = result_rows(manifest_path.parent)
    names = sorted(row["file_name"] for row in rows)
    assert names == sorted(f"fleet__{image.name}" for image in images)

    # The same window again: every batch and job is found again, nothing new is created.
    requests_before = state["requests"]
    again = run_pipeline(pipeline, logical_date)

    assert again.state == "success", again.tasks
    assert again.value("plan_chunks") == specs
    after = roboflow_emulator.state()
    assert set(after["batches"]) == set(state["batches"])
    assert {job_id: after["jobCreations"][job_id] for job_id in job_ids} == dict.fromkeys(job_ids, 1)
    assert {b: after["batches"][b] for b in batch_ids} == staged
    assert after["requests"] != requests_before  # the re-run did talk to the service
    assert json.loads(manifest_path.read_text())["reconciled"] is True
    assert len(result_rows(manifest_path.parent)) == OBJECTS
