"""A manual run without params processes what is new since the latest successfully processed window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from include.devstack.sample_media import sample_images, seed_s3
from tests.integration.pipeline.conftest import PipelineRun, object_store_pipeline

pytestmark = pytest.mark.integration


def test_manual_run_takes_what_arrived_since_the_last_processed_window(
    run_pipeline: Callable[..., PipelineRun], moto_server: Any, tmp_path: Path
) -> None:
    pipeline = object_store_pipeline("it_s3_manual", "s3", "it-s3-manual", "cams/", tmp_path)
    first_batch = sample_images(2, prefix="first", seed=71)
    seed_s3(moto_server.url, "it-s3-manual", "cams/", first_batch)
    first = run_pipeline(pipeline)
    assert first.state == "success"
    later = sample_images(3, prefix="later", seed=72)
    seed_s3(moto_server.url, "it-s3-manual", "cams/", later)

    second = run_pipeline(pipeline)  # a manual run, no params

    assert second.state == "success"
    first_plan, second_plan = first.value("plan"), second.value("plan")
    assert second_plan["window_start"] == first_plan["window_end"]
    assert datetime.fromisoformat(second_plan["window_end"]) == second.dag_run.run_after
    assert second.value("ingest")["expected_count"] == len(later)  # nothing of the first window again
    processed = sorted(entry["source_key"] for entry in second.manifest["sources"])
    assert processed == sorted(f"cams/{image.name}" for image in later)
