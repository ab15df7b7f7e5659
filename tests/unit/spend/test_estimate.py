"""The estimate: cold start, then machine-seconds per object learned from finished jobs."""

from __future__ import annotations

import pytest

from include.roboflow_batch.spend.estimate import (
    COLD_START_SECONDS_PER_OBJECT,
    Observation,
    cost_model,
    fit,
)


def test_cold_start_uses_the_documented_value_per_media_and_machine() -> None:
    model = cost_model([], "images", "cpu")
    assert (
        model.basis == "cold-start" and model.per_object == COLD_START_SECONDS_PER_OBJECT[("images", "cpu")]
    )
    assert model.seconds(100) == 100 * model.per_object
    assert cost_model([], "videos", "gpu").per_object == 15.0
    assert cost_model([], "images", "cpu", cold_start_per_object=0.2).per_object == 0.2
    assert "cold start" in model.describe()


def test_jobs_of_one_size_give_the_plain_ratio() -> None:
    assert fit([Observation(100, 50.0)]) == (0.0, 0.5)
    assert fit([Observation(100, 40.0), Observation(100, 60.0)]) == (0.0, 0.5)


def test_a_start_up_cost_per_job_is_learned_apart_from_the_cost_per_object() -> None:
    # 5 s per job plus 0.25 s per object, exactly.
    observations = [Observation(n, 5 + 0.25 * n) for n in (10, 40, 100, 400)]
    per_job, per_object = fit(observations)
    assert per_job == pytest.approx(5.0) and per_object == pytest.approx(0.25)
    model = cost_model(observations, "images", "cpu")
    assert model.basis == "history" and model.jobs == 4
    assert model.seconds(1000) == pytest.approx(255.0)
    assert model.seconds(1000, jobs=3) == pytest.approx(265.0)  # three chunks, three start-ups
    assert model.seconds(0) == 0.0


def test_the_fit_never_goes_negative() -> None:
    # Bigger jobs took less time in total: no negative per-object cost, the mean per job instead.
    per_job, per_object = fit([Observation(10, 20.0), Observation(100, 10.0)])
    assert per_object == 0.0 and per_job == pytest.approx(15.0)
    # A negative intercept falls back to a fit through the origin.
    per_job, per_object = fit([Observation(10, 0.5), Observation(100, 20.0), Observation(200, 41.0)])
    assert per_job == 0.0 and per_object > 0
    with pytest.raises(ValueError):
        fit([Observation(0, 1.0)])
