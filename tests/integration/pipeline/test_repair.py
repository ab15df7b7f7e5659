"""A repair re-processes only what failed: a window of 30 images where 4 were unreachable at ingest and
2 could not be processed is repaired, once its objects are fixed, with a child batch of exactly those
6 and one child job; the window's manifest then reconciles 30 = 30 processed with both jobs in its
history. A repair killed while it waits for its job, then run again, creates no second job; a repair
of a window with nothing left to repair does nothing and says so.

Real DAG runs against the emulator, with an S3 source (moto) the emulator fetches signed URLs from.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from include.devstack.run_results import result_rows
from include.devstack.sample_media import sample_images, seed_s3, stand_in_s3_client
from include.roboflow_batch.pipeline.loader import PIPELINES_FILE_ENV
from include.roboflow_emulator.testing import EmulatorHandle
from tests.integration.pipeline.conftest import (
    PipelineRun,
    emulator_with,
    object_store_pipeline,
    write_pipelines_file,
)
from tests.integration.pipeline.test_results_asset_event import results_events
from tests.integration.worker_process import kill, start_module, wait_for, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

BUCKET = "it-repair-frames"


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch, stand_in_connections: None) -> Iterator[EmulatorHandle]:
    """Job stages of two seconds: time enough to kill a repair while it waits for its job."""
    yield from emulator_with(monkeypatch, "--ingest-delay", "0.2", "--stage-delay", "2")


class DeleteWhenIngestStarts:
    """Deletes objects of the window after it was listed and signed, as ingest starts: Roboflow then
    finds their URLs unreachable (404), as with objects removed or refused by their store."""

    def __init__(self, endpoint_url: str, keys: list[str]) -> None:
        self.client = stand_in_s3_client(endpoint_url)
        self.keys = keys

    @property
    def hookimpl(self) -> Any:
        from airflow.sdk._shared.listeners import hookimpl

        return hookimpl

    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        if task_instance.task_id == "ingest":
            for key in self.keys:
                self.client.delete_object(Bucket=BUCKET, Key=key)


@contextlib.contextmanager
def deleting_when_ingest_starts(endpoint_url: str, keys: list[str]) -> Iterator[None]:
    from airflow.sdk._shared.listeners import hookimpl
    from airflow.sdk.listener import get_listener_manager

    listener = DeleteWhenIngestStarts(endpoint_url, keys)
    hookimpl(DeleteWhenIngestStarts.on_task_instance_running)
    manager = get_listener_manager()
    manager.add_listener(listener)
    try:
        yield
    finally:
        manager.pm.unregister(listener)


def requests_made(emulator: EmulatorHandle) -> int:
    return sum(emulator.state()["requests"].values())


@pytest.mark.slow
def test_a_repair_reprocesses_exactly_the_failed_objects_once_and_the_window_reconciles_as_one(
    run_pipeline: Callable[..., PipelineRun], emulator: EmulatorHandle, moto_server: Any, tmp_path: Path
) -> None:
    images = sample_images(30, prefix="rep", seed=91)
    unreachable, broken = images[:4], images[4:6]
    seed_s3(moto_server.url, BUCKET, "cams/", images)
    s3 = stand_in_s3_client(moto_server.url)
    for image in broken:  # the header of a PNG but not its pixels: staged, then not processable
        s3.put_object(Bucket=BUCKET, Key=f"cams/{image.name}", Body=image.content[: len(image.content) // 2])
    logical_date = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    time.sleep(1)
    pipeline = object_store_pipeline(
        "it_repair",
        "s3",
        BUCKET,
        "cams/",
        tmp_path,
        readiness={"poke_interval": "1s", "timeout": "2m", "max_failure_rate": 0.2},
    )

    before = requests_made(emulator)
    with deleting_when_ingest_starts(moto_server.url, [f"cams/{image.name}" for image in unreachable]):
        first = run_pipeline(pipeline, logical_date)
    full_run_requests = requests_made(emulator) - before
    assert first.state == "success", first.tasks
    original = first.manifest
    assert (original["failed"]["count"], original["processing_failed"]["count"]) == (4, 2)
    assert original["objects"] == {"seen": 30, "processed": 26, "failed": 4, "skipped": 0}
    assert original["results"]["rows"] == 24
    window_job = first.value("start_job")["job_id"]

    # The objects are fixed: the unreachable ones are back, the broken ones replaced by whole images.
    seed_s3(moto_server.url, BUCKET, "cams/", [*unreachable, *broken])
    conf = {"repair": True, "window_start": first.value("plan")["window_start"]}
    conf["window_end"] = first.value("plan")["window_end"]
    repair_date = logical_date + timedelta(days=1)

    # A repair killed while it waits for its job ...
    env = worker_env(tmp_path, **{PIPELINES_FILE_ENV: str(write_pipelines_file(tmp_path, pipeline))})
    log = tmp_path / "repair.log"
    worker = start_module(
        "tests.integration.pipeline.pipeline_dag_run",
        ["it_repair", repair_date.isoformat(), json.dumps(conf)],
        env,
        log,
    )
    try:
        created = wait_for(
            lambda: [job for job in emulator.state()["jobCreations"] if job != window_job],
            240,
            "the repair's job",
            log,
            worker,
        )
    finally:
        kill(worker)
    [repair_job] = created
    assert emulator.state()["jobs"][repair_job]["isTerminal"] is False, "killed after the job ended"

    # ... and run again: the same child batch and job, no second one.
    before = requests_made(emulator)
    repair = run_pipeline(pipeline, repair_date, conf=conf)
    repair_requests = requests_made(emulator) - before
    assert repair.state == "success", repair.tasks
    plan = repair.value("plan")
    assert plan["repair"]["objects"] == 6
    assert plan["job_id"] == repair_job
    assert repair.value("ingest")["expected_count"] == 6
    batches = emulator.state()["batches"]
    assert batches[plan["batch_id"]]["fileCount"] == 6
    assert emulator.state()["jobCreations"] == {window_job: 1, repair_job: 1}

    window = json.loads((first.destination / "manifest.json").read_text())
    assert window["reconciled"] is True, window["checks"]
    assert window["objects"] == {"seen": 30, "processed": 30, "failed": 0, "skipped": 0}
    assert (window["failed"]["count"], window["processing_failed"]["count"]) == (0, 0)
    assert window["results"]["rows"] == 30
    assert len(result_rows(first.destination)) == 30
    assert {event["job_id"] for event in window["job_history"]} == {window_job, repair_job}
    [merged] = window["repairs"]
    assert (merged["job_id"], merged["processed"], merged["still_failing"]) == (repair_job, 6, 0)
    assert results_events("it_repair")[-1]["extra"]["repair"]["processed"] == 6
    assert repair.value("reconcile")["destination"] == first.value("export")["destination"]
    print(  # the repair's calls against a full run of the window (the report quotes them)
        f"Roboflow API requests: full run of 30 objects {full_run_requests}, completing the repair of 6 "
        f"{repair_requests}"
    )

    # Repeating the repair finds nothing left: it creates nothing and says so.
    again = run_pipeline(pipeline, repair_date + timedelta(days=1), conf=conf)
    assert again.state == "success"
    assert again.task_state("plan") == "skipped"
    assert emulator.state()["jobCreations"] == {window_job: 1, repair_job: 1}
    assert set(emulator.state()["batches"]) == set(batches)
