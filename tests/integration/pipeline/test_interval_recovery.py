"""No interval is stuck: re-running an interval whose job failed or was aborted recovers it.

Real DAG runs (``dag.test()``) against the emulator: the job is restarted the Roboflow way when a
restart can carry what the pipeline asks for, and a new attempt starts only for a new workflow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from include.devstack.run_results import result_rows
from include.devstack.sample_media import sample_images, write_files
from include.roboflow_batch.api.client import RoboflowClient
from include.roboflow_batch.jobs.recovery import attempt_job_id
from include.roboflow_emulator.testing import EmulatorHandle
from tests.integration.pipeline.conftest import (
    PipelineRun,
    emulator_with,
    local_pipeline,
    pipeline_dag,
    write_pipelines_file,
)
from tests.integration.pipeline.file_clock import boundary

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture
def slow_emulator(monkeypatch: pytest.MonkeyPatch, stand_in_connections: None) -> Iterator[EmulatorHandle]:
    """An emulator whose jobs spend seconds per stage, so a job can be aborted while it runs."""
    yield from emulator_with(monkeypatch, "--ingest-delay", "0.2", "--stage-delay", "3")


def abort_when_running(emulator: EmulatorHandle) -> threading.Thread:
    """Abort the first job the emulator starts, as a user would from the Roboflow app."""

    def abort() -> None:
        # Generous: on a loaded machine ingest and readiness alone can take a minute before the job exists.
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            created = emulator.state()["jobCreations"]
            if created:
                client = RoboflowClient(emulator.base_url, "test-api-key", workspace="demo-workspace")
                client.abort_job(next(iter(created)))
                return
            time.sleep(0.1)

    thread = threading.Thread(target=abort, daemon=True)
    thread.start()
    return thread


def job_of(emulator: EmulatorHandle, job_id: str) -> Any:
    return RoboflowClient(emulator.base_url, "test-api-key", workspace="demo-workspace").get_job(job_id)


def test_aborted_job_is_restarted_with_the_changed_option_on_the_next_run(
    run_pipeline: Callable[..., PipelineRun], slow_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    images = sample_images(3, prefix="abort", seed=71)
    write_files(tmp_path / "drop", images)
    logical_date = boundary(tmp_path / "clock")  # after what was written: it is in the hour that ends
    pipeline = local_pipeline("it_abort", tmp_path, "bright-spot-detector", max_parallel_tasks=1)

    aborter = abort_when_running(slow_emulator)
    first = run_pipeline(pipeline, logical_date)
    aborter.join(timeout=5)
    assert not aborter.is_alive(), "the job was never started, so it could not be aborted"

    assert first.state == "failed"
    assert first.task_state("wait_for_job") == "failed"
    job_id = first.value("start_job")["job_id"]
    assert job_of(slow_emulator, job_id).error is True

    pipeline["job"]["max_parallel_tasks"] = 2  # a change a restart can carry
    second = run_pipeline(pipeline, logical_date)

    assert second.state == "success", second.tasks
    assert second.value("start_job")["job_id"] == job_id
    assert slow_emulator.state()["jobCreations"] == {job_id: 1}
    restarted = job_of(slow_emulator, job_id)
    assert restarted.succeeded
    assert restarted.restart_parameters_override[-1]["maxParallelTasks"] == 2
    history = second.manifest["job_history"]
    assert [(event["action"], event["job_id"]) for event in history] == [("restart", job_id)]
    assert "maxParallelTasks" in history[0]["changed"]
    assert len(result_rows(second.destination)) == len(images)


def test_failed_job_with_a_changed_workflow_gets_a_new_attempt_or_a_clear_failure(
    run_pipeline: Callable[..., PipelineRun], roboflow_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    images = sample_images(2, prefix="wf", seed=72)
    write_files(tmp_path / "drop", images)
    logical_date = boundary(tmp_path / "clock")  # after what was written: it is in the hour that ends

    first = run_pipeline(local_pipeline("it_changed_wf", tmp_path, "no-such-workflow"), logical_date)
    assert first.state == "failed"
    base_id = first.value("start_job")["job_id"]
    assert job_of(roboflow_emulator, base_id).error is True

    fixed = local_pipeline("it_changed_wf", tmp_path, "bright-spot-detector")
    refused = run_pipeline(fixed, logical_date, conf={"on_changed_definition": "fail"})
    assert refused.state == "failed"
    assert refused.task_state("start_job") == "failed"
    created = roboflow_emulator.state()["jobCreations"]
    assert attempt_job_id(base_id, 2) not in created

    second = run_pipeline(fixed, logical_date)

    assert second.state == "success", second.tasks
    new_id = attempt_job_id(base_id, 2)
    assert second.value("start_job") | {"job_id": new_id, "attempt": 2} == second.value("start_job")
    created = roboflow_emulator.state()["jobCreations"]
    assert (created[base_id], created[new_id]) == (1, 1)
    history = second.manifest["job_history"]
    assert [(event["action"], event["attempt"]) for event in history] == [("create", 2)]
    assert "processingSpecification.workflowId" in history[0]["changed"]
    assert len(result_rows(second.destination)) == len(images)


def test_clearing_only_the_wait_restarts_the_aborted_job_and_finishes_the_interval(
    run_pipeline: Callable[..., PipelineRun], slow_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    from include.devstack.run_results import task_results
    from tests.integration.pipeline.resume import clear_and_resume

    images = sample_images(3, prefix="clear", seed=73)
    write_files(tmp_path / "drop", images)
    logical_date = boundary(tmp_path / "clock")  # after what was written: it is in the hour that ends
    pipeline = local_pipeline("it_clear_wait", tmp_path, "bright-spot-detector", max_parallel_tasks=1)

    aborter = abort_when_running(slow_emulator)
    first = run_pipeline(pipeline, logical_date)
    aborter.join(timeout=5)
    assert not aborter.is_alive(), "the job was never started, so it could not be aborted"
    # The try that saw the abort fails with the server's reason; nothing was restarted yet.
    assert first.task_state("wait_for_job") == "failed"
    job_id = first.value("start_job")["job_id"]
    assert job_of(slow_emulator, job_id).error is True

    pipeline["job"]["max_parallel_tasks"] = 2  # what the pipeline asks for now
    write_pipelines_file(tmp_path, pipeline)
    dag = pipeline_dag(pipeline["id"])
    final = clear_and_resume(dag, first.dag_run.run_id, ["wait_for_job", "export", "reconcile"])

    tasks = task_results(first.dag_run.dag_id, first.dag_run.run_id)
    assert final == "success", tasks
    assert tasks["start_job"]["state"] == "success"  # start_job did not run again
    assert slow_emulator.state()["jobCreations"] == {job_id: 1}
    restarted = job_of(slow_emulator, job_id)
    assert restarted.succeeded
    assert restarted.restart_parameters_override[-1]["maxParallelTasks"] == 2
    second = PipelineRun(first.dag_run, tasks)
    history = second.manifest["job_history"]
    assert [(event["action"], event["job_id"], event.get("by")) for event in history] == [
        ("create", job_id, "start_job"),
        ("restart", job_id, "wait_for_job"),
    ]
    assert len(result_rows(second.destination)) == len(images)
