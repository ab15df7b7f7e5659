"""Roboflow starts jobs 3-8 minutes after submission, longer under load: no default on the job's path may
give up on a job that starts 30 minutes late."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from include.roboflow_batch.api.models import JobMetadata
from include.roboflow_batch.jobs.status import JobSnapshot, judge
from include.roboflow_batch.operators.start_job import RoboflowStartJobOperator
from include.roboflow_batch.pipeline.factory import build_dag
from include.roboflow_batch.sensors.job import RoboflowJobSensor
from include.roboflow_batch.triggers.job import JobWait
from tests.unit.pipeline.test_factory import arg, config

SLOW_START = timedelta(minutes=30)
# A slow start plus a modest run: every default wait must allow at least this much.
SLOW_JOB = SLOW_START + timedelta(hours=1)


def test_the_pipeline_s_defaults_wait_out_a_thirty_minute_start(pipeline: dict[str, Any]) -> None:
    dag = build_dag(config(pipeline), Path("/project"))
    tasks = dag.task_dict
    # Nothing is cut short by a task-level limit ...
    assert all(arg(task, "execution_timeout") is None for task in dag.tasks)
    # ... start_job returns once the job is created (the wait is its own, deferred, task) ...
    assert not arg(tasks["start_job"], "wait_for_completion")
    assert RoboflowStartJobOperator(task_id="start", workflow_id="w").wait_for_completion is False
    # ... and the wait gives the job far longer than a slow start, polling meanwhile.
    wait = tasks["wait_for_job"]
    assert timedelta(seconds=arg(wait, "timeout")) >= SLOW_JOB
    assert timedelta(seconds=arg(wait, "poke_interval")) < SLOW_START / 10
    assert arg(wait, "deferrable") is True


def test_the_operators_defaults_wait_out_a_thirty_minute_start() -> None:
    sensor = RoboflowJobSensor(task_id="wait", job_id="j")
    assert sensor.execution_timeout is None and sensor.timeout >= SLOW_JOB.total_seconds()
    start = RoboflowStartJobOperator(task_id="start", workflow_id="w", wait_for_completion=True)
    assert start.execution_timeout is None and start.wait.timeout_seconds >= SLOW_JOB.total_seconds()
    # The deferred wait's deadline is the wait's own plus time for the trigger to report it.
    assert JobWait(10, SLOW_JOB).deferral_timeout > SLOW_JOB


@pytest.mark.parametrize("notification", [None, {"type": "job-queued", "message": "Waiting for machines."}])
def test_a_job_without_a_stage_yet_is_running_not_failed(notification: Any) -> None:
    job = JobMetadata.model_validate(
        {
            "jobId": "j",
            "name": "j",
            "jobDefinition": {},
            "currentStage": None,
            "plannedStages": ["processing", "export"],
            "isTerminal": False,
            "error": False,
            "lastNotification": notification,
            "createdAt": "2026-11-28T12:00:00Z",
            "lastUpdate": "2026-11-28T12:00:00Z",
        }
    )
    verdict = judge("j", JobSnapshot(job, stages=[]))
    assert verdict.outcome is None
    assert verdict.progress.describe("j") == "Roboflow job j: waiting to start"
