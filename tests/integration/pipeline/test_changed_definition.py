"""A re-run does what the user means: a changed workflow gives the new workflow's results, never the
old job's; the window's destination then holds that attempt's files only, also when the export of
the new attempt is killed half-way (on an object store).

Real DAG runs (``dag.test()``, and a killable child process running one) against the emulator.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from include.devstack.run_results import result_rows
from include.devstack.sample_media import sample_images, stand_in_s3_client, write_files
from include.roboflow_batch.jobs.recovery import attempt_job_id
from include.roboflow_batch.pipeline.loader import PIPELINES_FILE_ENV
from include.roboflow_emulator.testing import EmulatorHandle
from tests.integration.pipeline.conftest import (
    PipelineRun,
    emulator_with,
    local_pipeline,
    write_pipelines_file,
)
from tests.integration.pipeline.test_results_asset_event import results_events
from tests.integration.worker_process import kill, start_module, wait_for, worker_env

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def next_interval() -> datetime:
    """A logical date just ahead, so that files written now fall in the interval that ends there."""
    logical_date = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    time.sleep(1)
    return logical_date


@pytest.fixture
def slow_emulator(monkeypatch: pytest.MonkeyPatch, stand_in_connections: None) -> Iterator[EmulatorHandle]:
    """Jobs held in their first stage (until a test shortens the delay), so a run finds its interval's
    job still running however slow the machine."""
    yield from emulator_with(monkeypatch, "--ingest-delay", "0.2", "--stage-delay", "600")


@pytest.fixture
def slow_downloads(monkeypatch: pytest.MonkeyPatch, stand_in_connections: None) -> Iterator[EmulatorHandle]:
    """Two images per processing task (so several result files) and slow signed downloads, so an
    export can be killed half-way."""
    yield from emulator_with(
        monkeypatch, "--ingest-delay", "0.2", "--stage-delay", "0.2", "--shard-size", "2"
    )


def rows_by_kind(folder: Path) -> set[str]:
    """Which workflow each result row of the folder came from (``_*`` bookkeeping left out)."""
    return {"bright-spot" if "predictions" in row else "image-stats" for row in result_rows(folder)}


@pytest.mark.slow
def test_a_changed_workflow_gives_a_new_attempt_a_changed_machine_reattaches_and_fail_names_it(
    run_pipeline: Callable[..., PipelineRun],
    roboflow_emulator: EmulatorHandle,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    images = sample_images(3, prefix="ab", seed=81)
    write_files(tmp_path / "drop", images)
    logical_date = next_interval()
    pipeline = local_pipeline("it_a_to_b", tmp_path, "image-stats")

    first = run_pipeline(pipeline, logical_date)
    assert first.state == "success", first.tasks
    base = first.value("start_job")["job_id"]
    assert rows_by_kind(first.destination) == {"image-stats"}

    # Workflow A -> B on the finished interval: B's results, as the interval's next attempt.
    pipeline["workflow"]["id"] = "bright-spot-detector"
    second = run_pipeline(pipeline, logical_date)
    assert second.state == "success", second.tasks
    new_id = attempt_job_id(base, 2)
    assert (second.value("start_job")["job_id"], second.value("start_job")["attempt"]) == (new_id, 2)
    created = roboflow_emulator.state()["jobCreations"]
    assert (created[base], created[new_id]) == (1, 1)
    destination = second.destination
    assert destination == first.destination
    assert rows_by_kind(destination) == {"bright-spot"}
    assert len(result_rows(destination)) == len(images)
    manifest = second.manifest
    assert (manifest["job_id"], manifest["attempt"]) == (new_id, 2)
    assert manifest["replaces"]["job_id"] == base
    assert manifest["replaces"]["moved_to"] == "_attempts/1/"
    # A's answer is kept aside, whole, with its own manifest.
    aside = destination / "_attempts" / "1"
    assert json.loads((aside / "manifest.json").read_text())["job_id"] == base
    assert rows_by_kind_of_files(aside) == {"image-stats"}
    [created_event] = [event for event in manifest["job_history"] if event["action"] == "create"]
    assert (
        "processingSpecification.workflowId: 'image-stats' -> 'bright-spot-detector'"
        in (created_event["reason"])
    )
    event = results_events("it_a_to_b")[-1]["extra"]
    assert event["attempt"] == 2
    assert event["replaces"]["job_id"] == base

    # A machine type does not change results: the succeeded attempt is re-attached, nothing new.
    pipeline["job"]["machine_type"] = "gpu"
    third = run_pipeline(pipeline, logical_date)
    assert third.state == "success", third.tasks
    assert third.value("start_job")["job_id"] == new_id
    assert roboflow_emulator.state()["jobCreations"] == created
    assert third.manifest["job_history"][-1]["action"] == "reattach"
    assert rows_by_kind(destination) == {"bright-spot"}

    # on_changed_definition = fail: the run fails naming the changed field; nothing is created.
    pipeline["workflow"]["id"] = "image-stats"
    capfd.readouterr()
    refused = run_pipeline(pipeline, logical_date, conf={"on_changed_definition": "fail"})
    assert refused.state == "failed"
    assert refused.task_state("start_job") == "failed"
    output = capfd.readouterr()
    assert "processingSpecification.workflowId: 'bright-spot-detector' -> 'image-stats'" in (
        output.out + output.err
    )
    assert roboflow_emulator.state()["jobCreations"] == created
    assert rows_by_kind(destination) == {"bright-spot"}


def rows_by_kind_of_files(folder: Path) -> set[str]:
    kinds = set()
    for path in folder.rglob("*.jsonl"):
        if "_progress" in path.parts:
            continue
        for line in path.read_text().splitlines():
            if line.strip():
                kinds.add("bright-spot" if "predictions" in json.loads(line) else "image-stats")
    return kinds


def live_jobs_watch(
    emulator: EmulatorHandle, prefix: str, release_when_created: str | None = None
) -> tuple[threading.Event, list[int]]:
    """Poll the emulator: how many of the interval's jobs are live at each look (until ``stop``); once
    ``release_when_created`` exists, shorten the stages so that job can finish."""
    stop, seen = threading.Event(), []

    def watch() -> None:
        released = release_when_created is None
        while not stop.is_set():
            state = emulator.state()
            jobs = state["jobs"]
            seen.append(
                sum(1 for job_id, job in jobs.items() if job_id.startswith(prefix) and not job["isTerminal"])
            )
            if not released and release_when_created in state["jobCreations"]:
                emulator.set_delays(stage_delay=0.5)
                released = True
            time.sleep(0.05)

    threading.Thread(target=watch, daemon=True).start()
    return stop, seen


@pytest.mark.slow
def test_a_changed_workflow_while_the_job_runs_aborts_it_first(
    run_pipeline: Callable[..., PipelineRun], slow_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    images = sample_images(3, prefix="live", seed=82)
    write_files(tmp_path / "drop", images)
    logical_date = next_interval()
    pipeline = local_pipeline("it_live_change", tmp_path, "image-stats")
    env = worker_env(tmp_path, **{PIPELINES_FILE_ENV: str(write_pipelines_file(tmp_path, pipeline))})
    log = tmp_path / "run-a.log"

    # Run A in a child process and kill it once its job runs: the job goes on without a watcher.
    worker = start_module(
        "tests.integration.pipeline.pipeline_dag_run", ["it_live_change", logical_date.isoformat()], env, log
    )
    try:
        created = wait_for(lambda: slow_emulator.state()["jobCreations"], 180, "job A", log, worker)
    finally:
        kill(worker)
    [base] = created
    assert slow_emulator.state()["jobs"][base]["isTerminal"] is False

    # Job A stays in its stage until job B exists; then short stages let B finish.
    stop, live = live_jobs_watch(slow_emulator, base[:12], release_when_created=attempt_job_id(base, 2))
    pipeline["workflow"]["id"] = "bright-spot-detector"
    try:
        run = run_pipeline(pipeline, logical_date)
    finally:
        stop.set()
    assert run.state == "success", run.tasks
    new_id = attempt_job_id(base, 2)
    assert run.value("start_job")["job_id"] == new_id
    assert max(live) == 1, "two jobs of the interval were live at once"
    jobs = slow_emulator.state()["jobs"]
    assert (jobs[base]["isTerminal"], jobs[base]["error"]) == (True, True)  # aborted
    assert (jobs[new_id]["isTerminal"], jobs[new_id]["error"]) == (True, False)
    assert slow_emulator.state()["jobCreations"] == {base: 1, new_id: 1}
    history = run.manifest["job_history"]
    assert [(event["action"], event["job_id"]) for event in history] == [("abort", base), ("create", new_id)]
    assert rows_by_kind(run.destination) == {"bright-spot"}


def s3_files(client: Any, bucket: str, prefix: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            found[item["Key"][len(prefix) :]] = client.get_object(Bucket=bucket, Key=item["Key"])[
                "Body"
            ].read()
    return found


def one_answer(files: dict[str, bytes]) -> dict[str, Any]:
    """The manifest of a destination's files, checked: every listed file is there with its bytes, and
    no other result file sits outside the ``_``-folders."""
    manifest = json.loads(files["manifest.json"])
    listed = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
    for path, digest in listed.items():
        assert hashlib.sha256(files[path]).hexdigest() == digest, path
    outside = {path for path in files if path != "manifest.json" and not path.split("/")[0].startswith("_")}
    if "switch" not in manifest:
        assert outside == set(listed), "files of another attempt beside the answer"
    return manifest


@pytest.mark.slow
def test_an_export_killed_half_way_through_a_new_attempt_never_leaves_a_mix_on_an_object_store(
    run_pipeline: Callable[..., PipelineRun], slow_downloads: EmulatorHandle, moto_server: Any, tmp_path: Path
) -> None:
    s3 = stand_in_s3_client(moto_server.url)
    s3.create_bucket(Bucket="it-reruns-results")
    write_files(tmp_path / "drop", sample_images(8, prefix="kill", seed=83))
    logical_date = next_interval()
    pipeline = local_pipeline("it_kill_export", tmp_path, "image-stats", persist_images_outputs=True)
    pipeline["export"] = {
        "destination": "s3://it-reruns-results/{pipeline}/{interval_start:%Y%m%dT%H%M%S}/",
        "conn_id": "it_s3",
        "max_concurrency": 1,
    }
    first = run_pipeline(pipeline, logical_date)
    assert first.state == "success", first.tasks
    base = first.value("start_job")["job_id"]
    prefix = first.value("export")["destination"].removeprefix("s3://it-reruns-results/").rstrip("/") + "/"
    before = one_answer(s3_files(s3, "it-reruns-results", prefix))
    assert before["job_id"] == base

    # Attempt 2 (workflow B) in a child process, killed while its files are being staged.
    pipeline["workflow"]["id"] = "bright-spot-detector"
    env = worker_env(tmp_path, **{PIPELINES_FILE_ENV: str(write_pipelines_file(tmp_path, pipeline))})
    log = tmp_path / "run-b.log"
    new_id = attempt_job_id(base, 2)
    staging = f"{prefix}_attempts/staging-{new_id}/"
    slow_downloads.set_faults(downloadLatencyMs=400)
    worker = start_module(
        "tests.integration.pipeline.pipeline_dag_run", ["it_kill_export", logical_date.isoformat()], env, log
    )
    try:
        wait_for(
            lambda: s3.list_objects_v2(Bucket="it-reruns-results", Prefix=staging).get("KeyCount"),
            180,
            "the first staged file of attempt 2",
            log,
            worker,
        )
    finally:
        kill(worker)
    slow_downloads.set_faults(downloadLatencyMs=0)
    during = one_answer(s3_files(s3, "it-reruns-results", prefix))
    assert during["job_id"] == base, "the manifest switched before attempt 2 was complete"
    assert during["files"] == before["files"]

    second = run_pipeline(pipeline, logical_date)
    assert second.state == "success", second.tasks
    after_files = s3_files(s3, "it-reruns-results", prefix)
    after = one_answer(after_files)
    assert (after["job_id"], after["attempt"], after["replaces"]["job_id"]) == (new_id, 2, base)
    assert json.loads(after_files["_attempts/1/manifest.json"])["job_id"] == base
    assert not any(path.startswith("_attempts/staging-") for path in after_files)
    rows = [
        json.loads(line)
        for entry in after["files"]
        if entry["path"].endswith(".jsonl")
        for line in after_files[entry["path"]].decode().splitlines()
        if line.strip()
    ]
    assert len(rows) == 8 and all("predictions" in row for row in rows)
    assert slow_downloads.state()["jobCreations"] == {base: 1, new_id: 1}
