"""Sensors that cannot defer wait in reschedule mode, with pokes far enough apart for the scheduler."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from include.roboflow_batch.pipeline.factory import build_dag
from include.roboflow_batch.pipeline.loader import parse_pipelines
from include.roboflow_batch.sensors.batch_ready import RoboflowBatchReadySensor
from include.roboflow_batch.sensors.job import RoboflowJobSensor
from include.roboflow_batch.sensors.waiting import MIN_RESCHEDULE_INTERVAL


def job_sensor(**kwargs: Any) -> RoboflowJobSensor:
    return RoboflowJobSensor(task_id="wait_for_job", job_id="job-1", **kwargs)


def batch_sensor(**kwargs: Any) -> RoboflowBatchReadySensor:
    return RoboflowBatchReadySensor(task_id="wait_for_batch", batch_id="b-1", expected_count=1, **kwargs)


@pytest.mark.parametrize("make", [job_sensor, batch_sensor])
def test_not_deferrable_means_reschedule_mode(make: Any) -> None:
    sensor = make(deferrable=False, poke_interval=120)

    assert sensor.mode == "reschedule"
    assert sensor.poke_interval == 120


@pytest.mark.parametrize("make", [job_sensor, batch_sensor])
def test_short_poke_intervals_are_raised_in_reschedule_mode(make: Any) -> None:
    assert make(deferrable=False, poke_interval=1).poke_interval == MIN_RESCHEDULE_INTERVAL


@pytest.mark.parametrize("make", [job_sensor, batch_sensor])
def test_deferrable_and_explicit_poke_mode_keep_their_interval(make: Any) -> None:
    assert make(deferrable=True, poke_interval=1).poke_interval == 1
    explicit = make(deferrable=False, mode="poke", poke_interval=1)
    assert (explicit.mode, explicit.poke_interval) == ("poke", 1)


def test_pipeline_without_a_triggerer_holds_no_slot_while_waiting() -> None:
    from tests.unit.pipeline.conftest import MINIMAL_PIPELINE

    document = {"defaults": {"deferrable": False}, "pipelines": [MINIMAL_PIPELINE]}
    [config] = parse_pipelines(document, Path("/project/astro.yaml")).pipelines

    dag = build_dag(config, Path("/project"))

    for task_id in ("wait_for_batch", "wait_for_job"):
        # Mapped over the window's chunks: each chunk's wait gets these arguments.
        options = dag.task_dict[task_id].partial_kwargs
        assert options["mode"] == "reschedule"
        assert options["poke_interval"] >= MIN_RESCHEDULE_INTERVAL
