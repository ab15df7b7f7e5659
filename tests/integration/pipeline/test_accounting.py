"""Every object listed in a window is in the manifest: processed with its rows, failed at ingest with
the server's reason, or skipped while listing with the reason."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from include.devstack.run_results import local_path
from include.devstack.sample_media import sample_images, seed_s3, write_files
from include.roboflow_batch.media import MAX_IMAGE_BYTES
from tests.integration.pipeline.conftest import PipelineRun, object_store_pipeline
from tests.integration.pipeline.file_clock import boundary
from tests.integration.pipeline.test_results_asset_event import results_events

pytestmark = pytest.mark.integration


def test_skipped_objects_are_accounted_for_in_the_manifest(
    run_pipeline: Callable[..., PipelineRun], moto_server: Any, tmp_path: Path
) -> None:
    images = sample_images(3, prefix="acct", seed=41)
    empty = replace(images[0], name="empty.png", content=b"")
    notes = replace(images[0], name="notes.txt", content=b"not an image")
    seed_s3(moto_server.url, "it-s3-accounting", "cams/", [*images, empty, notes])
    pipeline = object_store_pipeline("it_s3_accounting", "s3", "it-s3-accounting", "cams/", tmp_path)

    run = run_pipeline(pipeline)

    assert run.state == "success"
    manifest = run.manifest
    assert manifest["reconciled"] is True
    assert manifest["objects"] == {"seen": 5, "processed": 3, "failed": 0, "skipped": 2}
    assert sorted((entry["key"], entry["reason"]) for entry in manifest["skipped"]["files"]) == [
        ("cams/empty.png", "empty-file"),
        ("cams/notes.txt", "unsupported-file-type"),
    ]
    processed = {entry["source_key"]: entry["rows"] for entry in manifest["sources"]}
    assert processed == {f"cams/{image.name}": 1 for image in images}
    listed = run.value("list_new_objects")
    assert listed["skipped_uri"].endswith(".skipped.jsonl")
    assert "Signature" not in str(listed)  # the full list is in a file, not in XCom


def local_pipeline(pipeline_id: str, tmp_path: Path) -> dict[str, Any]:
    return {
        "id": pipeline_id,
        "source": {"kind": "local", "directory": str(tmp_path / "drop"), "state_directory": "state"},
        "workflow": {"id": "bright-spot-detector"},
        "export": {"destination": str(tmp_path / "results" / "{interval_start:%Y%m%dT%H%M%S}") + "/"},
    }


def test_every_entry_of_a_local_window_is_accounted_for_in_the_manifest(
    run_pipeline: Callable[..., PipelineRun], tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    write_files(drop, sample_images(1, prefix="before", seed=42))
    window_start = boundary(tmp_path / "clock")
    images = sample_images(3, prefix="bay", seed=43)
    write_files(drop, images)
    (drop / "notes.txt").write_text("not an image")
    (drop / "empty.jpg").write_bytes(b"")
    with open(drop / "huge.jpg", "wb") as huge:
        huge.truncate(MAX_IMAGE_BYTES + 1)
    write_files(drop / "later", sample_images(1, prefix="nested", seed=44))
    os.mkfifo(drop / "pipe.jpg")
    (drop / ".DS_Store").write_bytes(b"\0")  # hidden and not media: not part of the source
    window = {
        "window_start": window_start.isoformat(),
        "window_end": (datetime.now(UTC) + timedelta(minutes=5)).isoformat(),
    }

    run = run_pipeline(
        local_pipeline("it_local_accounting", tmp_path), datetime(2026, 1, 2, tzinfo=UTC), window
    )

    assert run.state == "success", run.tasks
    listing = run.value("list_local_files")
    assert (listing["count"], listing["skipped_count"]) == (3, 5)
    manifest = run.manifest
    assert manifest["reconciled"] is True, manifest["checks"]
    assert manifest["objects"] == {"seen": 8, "processed": 3, "failed": 0, "skipped": 5}
    assert sorted((e["key"], e["reason"], e.get("size")) for e in manifest["skipped"]["files"]) == [
        ("empty.jpg", "empty-file", 0),
        ("huge.jpg", "file-size-limit-exceeded", MAX_IMAGE_BYTES + 1),
        ("later/", "subdirectory-not-read", None),
        ("notes.txt", "unsupported-file-type", len("not an image")),
        ("pipe.jpg", "not-a-regular-file", None),
    ]
    # The file that arrived before the window is not seen by it.
    assert sorted(entry["name"] for entry in manifest["sources"]) == sorted(image.name for image in images)
    assert local_path(listing["skipped_uri"]).parent.parent == tmp_path / "state"


def assert_accounted_without_processing(
    run: PipelineRun, roboflow_emulator: Any, skipped: list[tuple]
) -> None:
    """The run succeeded with a manifest of skipped objects only, and nothing reached Roboflow."""
    assert run.state == "success", run.tasks
    for task_id in ("ingest", "wait_for_batch", "start_job", "wait_for_job", "export"):
        assert run.task_state(task_id) == "skipped", task_id
    reconcile = run.value("reconcile")
    assert (reconcile["chunks"], reconcile["reconciled"]) == (0, True)
    manifest_path = local_path(reconcile["manifest_uri"])
    assert manifest_path.parent == local_path(run.value("plan")["destination"].rstrip("/"))
    manifest = json.loads(manifest_path.read_text())
    assert manifest["reconciled"] is True, manifest["checks"]
    assert manifest["objects"] == {"seen": len(skipped), "processed": 0, "failed": 0, "skipped": len(skipped)}
    assert sorted((e["key"], e["reason"]) for e in manifest["skipped"]["files"]) == sorted(skipped)
    plan, state = run.value("plan"), roboflow_emulator.state()
    assert plan["batch_id"] not in state["batches"]
    assert plan["job_id"] not in state["jobCreations"]
    assert_the_roboflow_view_shows_it(run, manifest_path, len(skipped))


def assert_the_roboflow_view_shows_it(run: PipelineRun, manifest_path: Path, skipped: int) -> None:
    """The Roboflow view reads the run from the metadata DB: its manifest, its skipped count, no job."""
    from airflow.utils.session import create_session

    from include.roboflow_batch.webui.app import read_manifest
    from include.roboflow_batch.webui.pages import overview_page, run_page
    from include.roboflow_batch.webui.runs import one_run

    with create_session() as session:
        view = one_run(session, run.dag_run.dag_id, run.dag_run.run_id)
    assert view is not None
    assert (view.found, view.skipped, view.job_id, view.job_state) == (
        skipped,
        skipped,
        None,
        "none: nothing to process",
    )
    assert (view.manifest_uri, view.result_rows, view.reconciled) == (manifest_path.as_uri(), 0, True)
    assert read_manifest(view)["objects"]["skipped"] == skipped
    assert "manifest.json" in run_page("/roboflow-ui", view, []) + overview_page(
        "/roboflow-ui", {view.dag_id: [view]}, [], 1.0
    )


def test_a_local_window_of_skipped_files_only_ends_with_a_manifest_and_no_job(
    run_pipeline: Callable[..., PipelineRun], roboflow_emulator: Any, tmp_path: Path
) -> None:
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "notes.txt").write_text("not an image")
    (tmp_path / "drop" / "empty.png").write_bytes(b"")

    run = run_pipeline(local_pipeline("it_local_only_skipped", tmp_path))

    assert_accounted_without_processing(
        run, roboflow_emulator, [("empty.png", "empty-file"), ("notes.txt", "unsupported-file-type")]
    )


def test_a_bucket_window_of_skipped_objects_only_ends_with_a_manifest_and_no_job(
    run_pipeline: Callable[..., PipelineRun], roboflow_emulator: Any, moto_server: Any, tmp_path: Path
) -> None:
    image = sample_images(1, prefix="acct", seed=45)[0]
    empty = replace(image, name="empty.png", content=b"")
    notes = replace(image, name="notes.txt", content=b"not an image")
    seed_s3(moto_server.url, "it-s3-only-skipped", "cams/", [empty, notes])
    pipeline = object_store_pipeline("it_s3_only_skipped", "s3", "it-s3-only-skipped", "cams/", tmp_path)

    run = run_pipeline(pipeline)

    assert_accounted_without_processing(
        run,
        roboflow_emulator,
        [("cams/empty.png", "empty-file"), ("cams/notes.txt", "unsupported-file-type")],
    )
    assert run.value("list_new_objects")["count"] == 0
    # The window's manifest landed: one results event, with no rows and no job.
    [event] = results_events("it_s3_only_skipped")
    assert event["task"] == "reconcile"
    assert event["extra"]["objects"] == {"processed": 0, "failed": 0, "skipped": 2}
    assert (event["extra"]["rows"], event["extra"]["job_id"], event["extra"]["chunks"]) == (0, None, 0)


def test_a_window_with_no_object_at_all_stays_a_plain_skip(
    run_pipeline: Callable[..., PipelineRun], tmp_path: Path
) -> None:
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / ".DS_Store").write_bytes(b"\0")  # hidden: not part of the source

    run = run_pipeline(local_pipeline("it_local_nothing", tmp_path))

    assert run.state == "success", run.tasks
    assert run.task_state("list_local_files") == "skipped"
    assert run.task_state("reconcile") == "skipped"
    assert not (tmp_path / "results").exists()
    assert results_events("it_local_nothing") == []
