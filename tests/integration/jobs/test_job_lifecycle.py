"""Against the emulator: start a job, wait for it through the real trigger, export, and reconcile."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from include.roboflow_batch.operators.export import RoboflowExportOperator
from include.roboflow_batch.operators.start_job import RoboflowStartJobOperator
from include.roboflow_batch.sensors.job import RoboflowJobSensor
from include.roboflow_batch.triggers.job import RoboflowJobTrigger
from tests.integration.jobs.staging import stage_batch
from tests.unit.jobs.fakes import FakeStateStore, make_context

pytestmark = pytest.mark.integration


async def _run_trigger(trigger: RoboflowJobTrigger) -> dict[str, Any]:
    events = [event async for event in trigger.run()]
    assert len(events) == 1
    return events[0].payload


def wait_with_sensor(job_id: str, context: dict[str, Any]) -> dict[str, Any]:
    """What the task runner does: execute, on deferral run the trigger, resume with its event."""
    sensor = RoboflowJobSensor(task_id="wait_for_job", job_id=job_id, poke_interval=0.2)
    try:
        return sensor.execute(context)
    except TaskDeferred as deferred:
        trigger = deferred.trigger
        # Serialise and rebuild, as the triggerer does.
        classpath, kwargs = trigger.serialize()
        assert classpath.endswith("RoboflowJobTrigger")
        event = asyncio.run(_run_trigger(RoboflowJobTrigger(**kwargs)))
        return RoboflowJobSensor(task_id="wait_for_job", job_id=job_id).execute_complete(context, event)


def test_start_wait_export_reconciles(
    roboflow_emulator: Any, roboflow_conn: str, image_server: str, export_dir: Path
) -> None:
    staged = stage_batch(roboflow_emulator, image_server, f"it-{uuid.uuid4().hex[:10]}")
    store = FakeStateStore()
    context = make_context(store)

    started = RoboflowStartJobOperator(
        task_id="start_job", batch_id=staged.batch_id, workflow_id="image-stats", aggregation_format="jsonl"
    ).execute(context)
    job_id = started["job_id"]
    assert context["ti"].pushed["job_url"] == started["job_url"]
    assert started["job_url"].endswith(f"/demo-workspace/batch-processing/{job_id}")

    # A retry of the start task re-attaches: still one creation.
    RoboflowStartJobOperator(
        task_id="start_job", batch_id=staged.batch_id, workflow_id="image-stats", aggregation_format="jsonl"
    ).execute(make_context(store))
    assert roboflow_emulator.state()["jobCreations"][job_id] == 1

    waited = wait_with_sensor(job_id, make_context())
    assert waited["succeeded"] is True
    assert waited["output_batches"]["export"]

    summary = RoboflowExportOperator(
        task_id="export",
        job_id=job_id,
        destination=f"file://{export_dir}",
        expected_count=staged.expected_count,
        max_concurrency=4,
    ).execute(make_context())
    assert summary["reconciled"] is True
    assert summary["result_rows"] == len(staged.names)
    assert summary["files_written"] >= 1

    manifest = json.loads((export_dir / "manifest.json").read_text())
    assert manifest["inputs"]["expected"] == 5
    assert manifest["ingested"]["count"] == 4
    assert [f["file_name"] for f in manifest["failed"]["files"]] == [staged.failed_name]
    assert manifest["failed"]["files"][0]["source_key"] == "cams/back/missing.png"
    assert manifest["failed"]["files"][0]["type"] == "file-not-reachable"
    assert {s["source_key"]: s["rows"] for s in manifest["sources"]} == {
        "cams/front/a.png": 1,
        "cams/front/b.png": 1,
        "cams/back/c.png": 1,
        "cams/back/d.png": 1,
    }
    for entry in manifest["files"]:
        assert (export_dir / entry["path"]).stat().st_size == entry["size"]
    result_rows = [
        json.loads(line)
        for entry in manifest["files"]
        if entry["path"].endswith(".jsonl")
        for line in (export_dir / entry["path"]).read_text().splitlines()
    ]
    assert sorted(r["file_name"] for r in result_rows) == sorted(staged.names)


def test_unknown_workflow_fails_with_the_reason(
    roboflow_emulator: Any, roboflow_conn: str, image_server: str
) -> None:
    staged = stage_batch(roboflow_emulator, image_server, f"it-{uuid.uuid4().hex[:10]}")
    started = RoboflowStartJobOperator(
        task_id="start_job", batch_id=staged.batch_id, workflow_id="no-such-workflow"
    ).execute(make_context())
    with pytest.raises(AirflowFailException) as failure:
        wait_with_sensor(started["job_id"], make_context())
    assert "no-such-workflow" in str(failure.value)


def test_changed_definition_under_the_same_id_is_refused(
    roboflow_emulator: Any, roboflow_conn: str, image_server: str
) -> None:
    staged = stage_batch(roboflow_emulator, image_server, f"it-{uuid.uuid4().hex[:10]}")
    job_id = f"it-{uuid.uuid4().hex[:8]}"
    RoboflowStartJobOperator(
        task_id="start_job", batch_id=staged.batch_id, workflow_id="image-stats", job_id=job_id
    ).execute(make_context())
    with pytest.raises(AirflowFailException, match=f"job {job_id} exists with another definition"):
        RoboflowStartJobOperator(
            task_id="start_job",
            batch_id=staged.batch_id,
            workflow_id="bright-spot-detector",
            job_id=job_id,
        ).execute(make_context())
    assert roboflow_emulator.state()["jobCreations"][job_id] == 1


def test_start_and_wait_in_one_task_in_sync_mode(
    roboflow_emulator: Any, roboflow_conn: str, image_server: str
) -> None:
    staged = stage_batch(roboflow_emulator, image_server, f"it-{uuid.uuid4().hex[:10]}")
    result = RoboflowStartJobOperator(
        task_id="start_job",
        batch_id=staged.batch_id,
        workflow_id="image-stats",
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.2,
    ).execute(make_context())
    assert result["output_batches"]["export"] == [f"{result['job_id']}-export"]
