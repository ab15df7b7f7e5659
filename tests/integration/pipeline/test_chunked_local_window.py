"""A local directory window larger than ``max_batch_objects`` fans out into several batches and jobs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from include.devstack.run_results import local_path, result_rows
from include.devstack.sample_media import sample_images, write_files
from tests.integration.pipeline.conftest import PipelineRun
from tests.integration.pipeline.file_clock import boundary
from tests.integration.pipeline.test_chunked_window import MAPPED_STEPS, chunk_results

pytestmark = pytest.mark.integration

FILES, PER_BATCH = 40, 15


def test_local_window_over_the_limit_runs_as_several_batches_and_jobs_with_one_manifest(
    run_pipeline: Callable[..., PipelineRun], roboflow_emulator: Any, tmp_path: Path
) -> None:
    images = sample_images(FILES, prefix="bay", seed=81)
    write_files(tmp_path / "drop", images)
    (tmp_path / "drop" / "notes.txt").write_text("not an image")
    (tmp_path / "drop" / "empty.png").write_bytes(b"")
    pipeline = {
        "id": "it_local_fleet",
        "source": {"kind": "local", "directory": str(tmp_path / "drop"), "state_directory": "state"},
        "workflow": {"id": "bright-spot-detector"},
        "export": {"destination": str(tmp_path / "results" / "{interval_start:%Y%m%dT%H%M%S}") + "/"},
        "max_batch_objects": PER_BATCH,
    }
    logical_date = boundary(tmp_path / "clock")  # after what was written: it is in the hour that ends

    run = run_pipeline(pipeline, logical_date)

    assert run.state == "success", run.tasks
    listing = run.value("list_local_files")
    assert listing["count"] == FILES
    assert [chunk["count"] for chunk in listing["chunks"]] == [15, 15, 10]
    # Only the lists' paths travel through XCom; the names are in files under the state directory.
    lists = [local_path(chunk["references_uri"]) for chunk in listing["chunks"]]
    assert {path.parent.parent for path in lists} == {tmp_path / "state"}
    assert sum(len(path.read_text().splitlines()) for path in lists) == FILES
    specs = run.value("plan_chunks")
    batch_ids = [spec["batch_id"] for spec in specs]
    job_ids = [spec["job_id"] for spec in specs]
    assert len(set(batch_ids)) == len(set(job_ids)) == 3
    for task_id in MAPPED_STEPS:
        assert len(chunk_results(run, task_id)) == 3, task_id
    assert [r["expected_count"] for r in chunk_results(run, "ingest")] == [15, 15, 10]
    assert [r["expected"] for r in chunk_results(run, "wait_for_batch")] == [15, 15, 10]

    state = roboflow_emulator.state()
    staged = {batch_id: state["batches"][batch_id] for batch_id in batch_ids}
    assert [staged[batch_id]["fileCount"] for batch_id in batch_ids] == [15, 15, 10]
    assert {job_id: state["jobCreations"][job_id] for job_id in job_ids} == dict.fromkeys(job_ids, 1)

    reconcile = run.value("reconcile")
    assert reconcile["reconciled"] is True
    assert reconcile["chunks"] == 3
    manifest_path = local_path(reconcile["manifest_uri"])
    manifest = json.loads(manifest_path.read_text())
    assert manifest["reconciled"] is True and all(manifest["checks"].values()), manifest["checks"]
    assert manifest["inputs"] == {"listed": FILES, "expected": FILES}
    # The entries not sent are counted once for the window, not once per chunk.
    assert manifest["objects"] == {"seen": FILES + 2, "processed": FILES, "failed": 0, "skipped": 2}
    assert sorted((e["key"], e["reason"]) for e in manifest["skipped"]["files"]) == [
        ("empty.png", "empty-file"),
        ("notes.txt", "unsupported-file-type"),
    ]
    assert manifest["results"]["rows"] == FILES
    assert [chunk["batch_id"] for chunk in manifest["chunks"]] == batch_ids
    # A local chunk's export checks against its own ingest's count (a file list is no references file).
    assert [chunk["expected"] for chunk in manifest["chunks"]] == [15, 15, 10]
    names = sorted(row["file_name"] for row in result_rows(manifest_path.parent))
    assert names == sorted(image.name for image in images)

    # The same window again: the same lists, batches and jobs; nothing new is created.
    again = run_pipeline(pipeline, logical_date)

    assert again.state == "success", again.tasks
    assert again.value("plan_chunks") == specs
    after = roboflow_emulator.state()
    assert set(after["batches"]) == set(state["batches"])
    assert {b: after["batches"][b] for b in batch_ids} == staged
    assert {job_id: after["jobCreations"][job_id] for job_id in job_ids} == dict.fromkeys(job_ids, 1)
    assert len(result_rows(manifest_path.parent)) == FILES
