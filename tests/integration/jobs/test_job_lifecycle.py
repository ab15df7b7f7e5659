"""Against the emulator: start a job, wait for it through the real trigger, export, and reconcile."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from include.roboflow_batch.jobs.recovery import attempt_job_id
from include.roboflow_batch.operators.export import RoboflowExportOperator
from include.roboflow_batch.operators.start_job import RoboflowStartJobOperator
from include.roboflow_batch.sensors.job import RoboflowJobSensor
from include.roboflow_batch.triggers.job import RoboflowJobTrigger
from tests.integration.jobs.staging import stage_batch
from tests.unit.jobs.fakes import FakeStateStore, make_context

pytestmark = pytest.mark.integration


def fresh_context(store: FakeStateStore | None = None) -> dict[str, Any]:
    """A task context of a DAG of its own: derived job ids name the interval, so tests must not share one."""
    context = make_context(store)
    context["ti"].dag_id = f"it_{uuid.uuid4().hex[:8]}"
    return context


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
    context = fresh_context(store)

    started = RoboflowStartJobOperator(
        task_id="start_job", batch_id=staged.batch_id, workflow_id="image-stats", aggregation_format="jsonl"
    ).execute(context)
    job_id = started["job_id"]
    assert context["ti"].pushed["job_url"] == started["job_url"]
    assert started["job_url"].endswith(f"/demo-workspace/batch-processing/{job_id}")

    # A retry of the start task re-attaches: still one creation.
    RoboflowStartJobOperator(
        task_id="start_job", batch_id=staged.batch_id, workflow_id="image-stats", aggregation_format="jsonl"
    ).execute(fresh_context(store))
    assert roboflow_emulator.state()["jobCreations"][job_id] == 1

    waited = wait_with_sensor(job_id, fresh_context())
    assert waited["succeeded"] is True
    assert waited["output_batches"]["export"]

    summary = RoboflowExportOperator(
        task_id="export",
        job_id=job_id,
        destination=f"file://{export_dir}",
        expected_count=staged.expected_count,
        max_concurrency=4,
    ).execute(fresh_context())
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
    ).execute(fresh_context())
    with pytest.raises(AirflowFailException) as failure:
        wait_with_sensor(started["job_id"], fresh_context())
    assert "no-such-workflow" in str(failure.value)


def test_changed_definition_of_a_live_or_finished_job_starts_the_next_attempt_never_a_second_live_job(
    roboflow_emulator: Any, roboflow_conn: str, image_server: str
) -> None:
    staged = stage_batch(roboflow_emulator, image_server, f"it-{uuid.uuid4().hex[:10]}")
    job_id = f"it-{uuid.uuid4().hex[:8]}"
    RoboflowStartJobOperator(
        task_id="start_job", batch_id=staged.batch_id, workflow_id="image-stats", job_id=job_id
    ).execute(fresh_context())
    context = fresh_context()
    changed = RoboflowStartJobOperator(
        task_id="start_job",
        batch_id=staged.batch_id,
        workflow_id="bright-spot-detector",
        job_id=job_id,
    ).execute(context)
    # The results would differ: the interval's next attempt, never the old job's results.
    assert changed["job_id"] == attempt_job_id(job_id, 2)
    *_, event = context["ti"].pushed["job_history"]
    assert (event["action"], event["job_id"]) == ("create", attempt_job_id(job_id, 2))
    assert "processingSpecification.workflowId" in event["changed"]
    creations = roboflow_emulator.state()["jobCreations"]
    assert {job: count for job, count in creations.items() if job.startswith(job_id)} == {
        job_id: 1,
        attempt_job_id(job_id, 2): 1,
    }
    # Running or (on a fast emulator) already succeeded: either way it is not live any more.
    assert roboflow_emulator.state()["jobs"][job_id]["isTerminal"] is True


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
    ).execute(fresh_context())
    assert result["output_batches"]["export"] == [f"{result['job_id']}-export"]
