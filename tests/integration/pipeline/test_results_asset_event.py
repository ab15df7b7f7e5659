"""A successful window adds one event to its pipeline's results Asset, carrying the manifest summary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from include.devstack.sample_media import sample_images, seed_s3, stand_in_s3_client
from include.roboflow_batch.export.results_asset import RESULTS_ASSET_PREFIX
from tests.integration.pipeline.conftest import PipelineRun, object_store_pipeline

pytestmark = pytest.mark.integration


def results_events(pipeline_id: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (
            select(AssetEvent.extra, AssetEvent.source_task_id)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == f"{RESULTS_ASSET_PREFIX}{pipeline_id}")
            .order_by(AssetEvent.id)
        )
        return [{"extra": extra, "task": task} for extra, task in session.execute(query)]


def put_object(endpoint_url: str, bucket: str, key: str, body: bytes) -> None:
    stand_in_s3_client(endpoint_url).put_object(Bucket=bucket, Key=key, Body=body)


def test_export_event_carries_the_manifest_summary(
    run_pipeline: Callable[..., PipelineRun], moto_server: Any, roboflow_emulator: Any, tmp_path: Path
) -> None:
    images = sample_images(3, prefix="asset", seed=5)
    seed_s3(moto_server.url, "it-asset-frames", "cams/", images)
    # One object the references step skips (an empty image), so "skipped" is seen in the event.
    put_object(moto_server.url, "it-asset-frames", "cams/empty.jpg", b"")
    pipeline = object_store_pipeline("it_asset", "s3", "it-asset-frames", "cams/", tmp_path)

    run = run_pipeline(pipeline)

    assert run.state == "success"
    [event] = results_events("it_asset")
    extra = event["extra"]
    # One event per window, from the step that writes the window's manifest.
    assert event["task"] == "reconcile"
    assert extra["destination"] == run.value("export")["destination"]
    assert extra["manifest_uri"] == run.value("export")["manifest_uri"]
    assert extra["rows"] == 3
    assert extra["objects"] == {"processed": 3, "failed": 0, "skipped": 1}
    assert extra["job_id"] == run.value("start_job")["job_id"]
    assert extra["batch_id"] == run.manifest["ingested"]["batch_id"]
    assert extra["reconciled"] is True
