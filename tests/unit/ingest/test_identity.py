from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from include.roboflow_batch.api.ids import validate_batch_id
from include.roboflow_batch.identity import batch_id_from_context
from tests.unit.ingest.task_context import INTERVAL, make_context


def test_same_run_gives_the_same_valid_id_for_every_task() -> None:
    ingest = batch_id_from_context(make_context(interval=INTERVAL, task_id="ingest"))
    start_job = batch_id_from_context(make_context(interval=INTERVAL, task_id="start_job"))
    assert ingest == start_job
    assert validate_batch_id(ingest) == ingest


def test_different_intervals_give_different_ids() -> None:
    later = (INTERVAL[1], INTERVAL[1] + timedelta(hours=1))
    assert batch_id_from_context(make_context(interval=INTERVAL)) != batch_id_from_context(
        make_context(interval=later)
    )


def test_the_same_instant_in_another_time_zone_gives_the_same_id() -> None:
    tz = timezone(timedelta(hours=2))
    shifted = (INTERVAL[0].astimezone(tz), INTERVAL[1].astimezone(tz))
    assert batch_id_from_context(make_context(interval=shifted)) == batch_id_from_context(
        make_context(interval=INTERVAL)
    )


def test_mapped_tasks_get_one_batch_each() -> None:
    ids = {batch_id_from_context(make_context(interval=INTERVAL, map_index=i)) for i in (-1, 0, 1)}
    assert len(ids) == 3


def test_dag_id_is_part_of_the_id() -> None:
    assert batch_id_from_context(make_context(interval=INTERVAL, dag_id="a")) != batch_id_from_context(
        make_context(interval=INTERVAL, dag_id="b")
    )


def test_runs_without_interval_use_the_run_id() -> None:
    first = batch_id_from_context(make_context(run_id="manual__1"))
    assert first == batch_id_from_context(make_context(run_id="manual__1"))
    assert first != batch_id_from_context(make_context(run_id="manual__2"))


def test_no_interval_and_no_run_id_is_a_clear_error() -> None:
    context = make_context(run_id="")
    context["dag_run"] = None
    with pytest.raises(ValueError, match="no data interval and no run_id"):
        batch_id_from_context(context)


def test_long_dag_ids_still_fit_the_limit() -> None:
    batch_id = batch_id_from_context(make_context(interval=INTERVAL, dag_id="x" * 300))
    assert len(batch_id) <= 64


def test_zero_width_interval_still_identifies_the_run() -> None:
    moment = datetime(2026, 3, 1, 5, tzinfo=UTC)
    one = batch_id_from_context(make_context(interval=(moment, moment)))
    other = batch_id_from_context(make_context(interval=(moment + timedelta(hours=1),) * 2))
    assert one != other
