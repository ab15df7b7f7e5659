"""Whole pipeline DAGs built from astro.yaml, run with ``dag.test()`` against real local servers."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from include.devstack.run_results import prediction_boxes, result_rows
from include.devstack.sample_media import (
    SampleImage,
    sample_images,
    sample_video,
    seed_gcs,
    seed_s3,
    write_files,
)
from tests.integration.pipeline.conftest import PipelineRun, object_store_pipeline
from tests.integration.pipeline.file_clock import boundary

pytestmark = pytest.mark.integration

ROBOFLOW_TASKS = ("ingest", "wait_for_batch", "start_job", "wait_for_job", "export")


def assert_found_the_squares(
    run: PipelineRun, images: list[SampleImage], name_of: Callable[[str], str]
) -> None:
    """Every image has one result row whose first box sits on the square that was drawn."""
    drawn = {image.name: image for image in images}
    rows = result_rows(run.destination)
    assert len(rows) == len(images)
    for row in rows:
        image = drawn[name_of(row["file_name"])]
        [box] = prediction_boxes(row)
        assert box["class"] == "bright-spot"
        assert abs(box["x"] - image.spot[0]) <= 2 and abs(box["y"] - image.spot[1]) <= 2, (row, image.spot)


def assert_reconciled(run: PipelineRun, expected: int) -> None:
    export = run.value("export")
    assert export["reconciled"] is True
    manifest = run.manifest
    assert manifest["reconciled"] is True
    assert manifest["inputs"]["expected"] == expected
    assert manifest["ingested"]["count"] == expected
    assert manifest["failed"]["count"] == 0
    # None: a check that does not apply (no listing step for local sources).
    assert all(value is not False for value in manifest["checks"].values()), manifest["checks"]
    assert manifest["checks"]["rows_match"] is True


def test_s3_images_pipeline_and_idempotent_rerun(
    run_pipeline: Callable[..., PipelineRun], moto_server: Any, roboflow_emulator: Any, tmp_path: Path
) -> None:
    images = sample_images(5, prefix="cam", seed=11)
    seed_s3(moto_server.url, "it-s3-frames", "cams/", images)
    pipeline = object_store_pipeline("it_s3", "s3", "it-s3-frames", "cams/", tmp_path)
    logical_date = boundary(tmp_path / "clock")  # after what was written: it is in the hour that ends

    run = run_pipeline(pipeline, logical_date)

    assert run.state == "success", run.tasks
    assert run.value("list_new_objects")["count"] == 5
    assert run.value("ingest")["expected_count"] == 5
    assert run.value("wait_for_job")["succeeded"] is True
    assert_reconciled(run, expected=5)
    assert_found_the_squares(run, images, name_of=lambda name: name.removeprefix("cams__"))
    assert run.destination.name == logical_date.__sub__(timedelta(hours=1)).strftime("%Y%m%dT%H%M%S")

    # The same interval again (a re-run or backfill): same batch, same job, no second job created.
    again = run_pipeline(pipeline, logical_date)

    assert again.state == "success", again.tasks
    job_id = run.value("start_job")["job_id"]
    assert again.value("start_job")["job_id"] == job_id
    assert again.value("ingest")["batch_id"] == run.value("ingest")["batch_id"]
    assert roboflow_emulator.state()["jobCreations"][job_id] == 1
    assert len(result_rows(again.destination)) == 5


def test_gcs_videos_pipeline(
    run_pipeline: Callable[..., PipelineRun], gcs_emulator: Any, tmp_path: Path
) -> None:
    video = sample_video("aisle.mp4", frames=10, fps=5)
    seed_gcs(gcs_emulator.url, "it-gcs-clips", "clips/", [video])
    pipeline = object_store_pipeline(
        "it_gcs_videos",
        "gcs",
        "it-gcs-clips",
        "clips/",
        tmp_path,
        source={"media": "videos"},
        job={"max_video_fps": 5},
    )

    run = run_pipeline(pipeline)

    assert run.state == "success", run.tasks
    assert run.value("list_new_objects")["count"] == 1
    assert run.value("list_new_objects")["media_type"] == "videos"
    assert_reconciled(run, expected=1)
    rows = result_rows(run.destination)
    assert len(rows) >= 5  # one row per sampled frame of the 2-second clip
    xs = []
    for row in rows:
        boxes = prediction_boxes(row)
        assert boxes, row
        assert abs(boxes[0]["y"] - 32) <= 2  # the square crosses the middle row of the frame
        xs.append(boxes[0]["x"])
    assert xs == sorted(xs) and xs[-1] > xs[0]  # ... from left to right


def test_local_directory_pipeline(run_pipeline: Callable[..., PipelineRun], tmp_path: Path) -> None:
    images = sample_images(4, prefix="drop", seed=21)
    write_files(tmp_path / "drop", images)
    old = sample_images(1, prefix="last-week", seed=22)
    [stale] = write_files(tmp_path / "drop", old)
    week_ago = time.time() - 7 * 86400
    os.utime(stale, (week_ago, week_ago))
    pipeline = {
        "id": "it_local",
        "source": {"kind": "local", "directory": str(tmp_path / "drop"), "media": "images"},
        "workflow": {"id": "bright-spot-detector"},
        "export": {
            "destination": str(tmp_path / "results" / "{pipeline}" / "{interval_start:%Y%m%dT%H%M%S}") + "/"
        },
    }

    run = run_pipeline(pipeline)

    assert run.state == "success", run.tasks
    assert "list_new_objects" not in run.tasks
    # The file with a week-old modification time was copied in just now (like cp -p): it arrived in
    # this interval, so it is taken.
    assert run.value("ingest")["expected_count"] == 5
    assert_reconciled(run, expected=5)
    assert_found_the_squares(run, [*images, *old], name_of=lambda name: name)


def test_run_with_nothing_new_is_skipped_not_failed(
    run_pipeline: Callable[..., PipelineRun], moto_server: Any, tmp_path: Path
) -> None:
    seed_s3(moto_server.url, "it-s3-quiet", "elsewhere/", sample_images(1, seed=31))
    pipeline = object_store_pipeline("it_s3_quiet", "s3", "it-s3-quiet", "cams/", tmp_path)

    run = run_pipeline(pipeline)

    assert run.state == "success"
    assert run.task_state("plan") == "success"
    assert run.task_state("list_new_objects") == "skipped"
    for task_id in ROBOFLOW_TASKS:
        assert run.task_state(task_id) == "skipped", task_id


def test_manual_run_with_window_params_processes_that_window(
    run_pipeline: Callable[..., PipelineRun], moto_server: Any, tmp_path: Path
) -> None:
    images = sample_images(2, prefix="late", seed=51)
    seed_s3(moto_server.url, "it-s3-window", "cams/", images)
    pipeline = object_store_pipeline("it_s3_window", "s3", "it-s3-window", "cams/", tmp_path)
    now = datetime.now(UTC).replace(microsecond=0)
    window = {
        "window_start": (now - timedelta(minutes=10)).isoformat(),
        "window_end": boundary(tmp_path / "clock").isoformat(),
    }

    # The run's own interval (a day in January) holds nothing; the explicit window holds both images.
    run = run_pipeline(pipeline, datetime(2026, 1, 2, tzinfo=UTC), conf=window)

    assert run.state == "success", run.tasks
    assert run.value("plan")["window_start"] == window["window_start"]
    assert run.value("list_new_objects")["count"] == 2
    assert_reconciled(run, expected=2)
    assert run.destination.name == (now - timedelta(minutes=10)).strftime("%Y%m%dT%H%M%S")


def test_manual_run_of_a_local_pipeline_takes_the_window_params(
    run_pipeline: Callable[..., PipelineRun], tmp_path: Path
) -> None:
    arrived = sample_images(3, prefix="today", seed=61)
    write_files(tmp_path / "drop", arrived)
    now = datetime.now(UTC).replace(microsecond=0)
    pipeline = {
        "id": "it_local_window",
        "source": {"kind": "local", "directory": str(tmp_path / "drop"), "media": "images"},
        "workflow": {"id": "bright-spot-detector"},
        "export": {"destination": str(tmp_path / "results" / "{interval_start:%Y%m%dT%H%M%S}") + "/"},
    }
    window = {
        "window_start": (now - timedelta(hours=1)).isoformat(),
        "window_end": (now + timedelta(hours=1)).isoformat(),
    }

    # The run's own interval (a day in January) holds nothing; the window holds what arrived now.
    run = run_pipeline(pipeline, datetime(2026, 1, 2, tzinfo=UTC), conf=window)

    assert run.state == "success", run.tasks
    assert run.value("ingest")["expected_count"] == 3
    assert_reconciled(run, expected=3)
    assert_found_the_squares(run, arrived, name_of=lambda name: name)
