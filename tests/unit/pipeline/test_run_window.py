"""Run windows, ids and locations: deterministic per window, explicit params, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.roboflow_batch.api.ids import validate_batch_id, validate_job_id
from include.roboflow_batch.durations import format_duration, parse_duration
from include.roboflow_batch.pipeline.plan_task import PlanSpec, plan_run
from include.roboflow_batch.pipeline.run_window import (
    RunWindow,
    RunWindowError,
    render_uri,
    resolve_run_window,
)

START = datetime(2026, 3, 1, 4, tzinfo=UTC)
END = START + timedelta(hours=1)
SPEC = PlanSpec(
    pipeline_id="demo_s3",
    dag_id="roboflow_demo_s3",
    base_dir="/project",
    references_uri="s3://private/{pipeline}/{interval_start:%Y%m%dT%H%M}.jsonl",
    destination="results/{pipeline}/{interval_start:%Y%m%dT%H%M}/",
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        (30, timedelta(seconds=30)),
        ("45", timedelta(seconds=45)),
    ],
)
def test_durations(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["", "1 hour", "h", "-5m", 0, True, None])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_format_duration_round_trips() -> None:
    for text in ("90s", "15m", "1h", "2d", "1w"):
        assert format_duration(parse_duration(text)) == text


def test_data_interval_is_the_window() -> None:
    assert resolve_run_window(START, END, {}) == RunWindow(START, END, "interval")


def test_explicit_window_params_win() -> None:
    window = resolve_run_window(
        START, END, {"window_start": "2026-01-01T00:00:00Z", "window_end": "2026-01-02"}
    )

    assert window == RunWindow(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC), "interval")


def test_run_without_interval_needs_params() -> None:
    with pytest.raises(RunWindowError, match="window_start and window_end"):
        resolve_run_window(None, None, {})


def test_zero_width_interval_is_not_a_window() -> None:
    with pytest.raises(RunWindowError, match="no data interval"):
        resolve_run_window(START, START, {})


def test_select_all_without_interval_uses_run_time() -> None:
    window = resolve_run_window(None, None, {"select_all": True}, run_after=END)

    assert window == RunWindow(None, END, "all")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"window_start": "2026-01-01"}, "params.window_end: set both"),
        (
            {"window_start": "yesterday", "window_end": "2026-01-01"},
            "params.window_start: 'yesterday' is not",
        ),
        ({"window_start": "2026-01-02", "window_end": "2026-01-01"}, "must be after window_start"),
    ],
)
def test_bad_window_params_are_named(params: dict[str, Any], message: str) -> None:
    with pytest.raises(RunWindowError, match=message):
        resolve_run_window(None, None, params)


def test_window_params_without_a_time_zone_are_in_the_dags_time_zone() -> None:
    import pendulum

    params = {"window_start": "2026-01-01T00:00:00", "window_end": "2026-01-01T06:00:00+00:00"}
    window = resolve_run_window(None, None, params, zone=pendulum.timezone("Europe/Berlin"))

    assert window.start == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert window.end == datetime(2026, 1, 1, 6, tzinfo=UTC)


def test_render_uri_fills_the_template_and_resolves_paths() -> None:
    window = RunWindow(START, END, "interval")

    assert (
        render_uri(
            "s3://r/{pipeline}/{interval_start:%Y%m%dT%H%M}/",
            pipeline_id="p",
            dag_id="d",
            window=window,
            base_dir=Path("/project"),
        )
        == "s3://r/p/20260301T0400/"
    )
    assert (
        render_uri("out/{dag_id}/", pipeline_id="p", dag_id="d", window=window, base_dir=Path("/project"))
        == "file:///project/out/d/"
    )


def _context(start: datetime | None, end: datetime | None, **params: Any) -> dict[str, Any]:
    return {
        "data_interval_start": start,
        "data_interval_end": end,
        "params": params,
        "dag_run": SimpleNamespace(run_after=end or END),
    }


def test_plan_is_deterministic_per_window() -> None:
    first = plan_run(SPEC, **_context(START, END))
    again = plan_run(SPEC, **_context(START, END))
    next_hour = plan_run(SPEC, **_context(END, END + timedelta(hours=1)))

    assert first == again
    assert first["batch_id"] != next_hour["batch_id"]
    assert first["job_id"] != next_hour["job_id"]
    validate_batch_id(first["batch_id"])
    validate_job_id(first["job_id"])
    assert first["references_uri"] == "s3://private/demo_s3/20260301T0400.jsonl"
    assert first["destination"] == "file:///project/results/demo_s3/20260301T0400/"
    assert first["window_start"] == START.isoformat()
    assert first["select"] == "interval"


def test_plan_job_id_names_the_interval_of_the_pipeline() -> None:
    # What runs in the interval may change; the job family (attempts, restarts) stays the interval's.
    other_pipeline = PlanSpec(**{**SPEC, "pipeline_id": "demo_gcs"})

    assert (
        plan_run(SPEC, **_context(START, END))["job_id"]
        != plan_run(other_pipeline, **_context(START, END))["job_id"]
    )


def test_plan_without_window_fails_without_retry() -> None:
    with pytest.raises(AirflowFailException, match="window_start and window_end"):
        plan_run(SPEC, **_context(None, None))


def test_plan_with_select_all() -> None:
    plan = plan_run(SPEC, **_context(None, None, select_all=True))

    assert plan["select"] == "all"
    assert plan["window_start"] is None


class FakeStateStore:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def set(self, key: str, value: Any, retention: Any = None) -> None:
        self.values[key] = value


class FakeTaskInstance:
    """Answers like the SDK: the previous successful run and the XCom of its plan task."""

    def __init__(self, previous: Any, plans: dict[str, dict[str, Any]]) -> None:
        self.previous = previous
        self.plans = plans
        self.pushed: dict[tuple[str, str], Any] = {}

    def get_previous_dagrun(self, state: str | None = None) -> Any:
        assert state == "success"
        return self.previous

    def xcom_pull(self, task_ids: str, run_id: str, key: str = "return_value") -> Any:
        assert task_ids == "plan"
        if key == "processed_until":
            return self.pushed.get((run_id, key))
        return self.plans.get(run_id)

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[("this-run", key)] = value


def _manual_context(
    previous_end: datetime | None, triggered_at: datetime, store: FakeStateStore | None = None, **params: Any
) -> dict[str, Any]:
    """A manual run triggered at ``triggered_at`` (its inferred data interval is the last full hour)."""
    previous = None
    plans: dict[str, dict[str, Any]] = {}
    if previous_end is not None:
        previous = SimpleNamespace(run_id="earlier", data_interval_end=previous_end - timedelta(hours=1))
        plans["earlier"] = {"window_end": previous_end.isoformat()}
    hour = triggered_at.replace(minute=0, second=0, microsecond=0)
    return {
        "data_interval_start": hour - timedelta(hours=1),
        "data_interval_end": hour,
        "params": params,
        "dag_run": SimpleNamespace(
            run_type="manual", run_after=triggered_at, logical_date=triggered_at, dag_id="roboflow_demo_s3"
        ),
        "ti": FakeTaskInstance(previous, plans),
        "task_state_store": store or FakeStateStore(),
    }


def test_manual_run_without_params_takes_what_is_new_since_the_latest_processed_window() -> None:
    processed_until = datetime(2026, 3, 1, 5, tzinfo=UTC)
    triggered_at = datetime(2026, 3, 1, 7, 42, 13, tzinfo=UTC)

    plan = plan_run(SPEC, **_manual_context(processed_until, triggered_at))

    # Not the last full hour [06:00, 07:00): everything from 05:00 up to the trigger time.
    assert plan["window_start"] == processed_until.isoformat()
    assert plan["window_end"] == triggered_at.isoformat()
    assert plan["select"] == "interval"


def test_manual_run_keeps_its_window_when_retried_after_later_runs() -> None:
    store = FakeStateStore()
    triggered_at = datetime(2026, 3, 1, 7, 42, tzinfo=UTC)
    first = plan_run(SPEC, **_manual_context(datetime(2026, 3, 1, 5, tzinfo=UTC), triggered_at, store))

    cleared = plan_run(SPEC, **_manual_context(datetime(2026, 3, 1, 7, 30, tzinfo=UTC), triggered_at, store))

    assert cleared == first


def test_first_manual_run_takes_the_last_complete_interval() -> None:
    triggered_at = datetime(2026, 3, 1, 7, 42, tzinfo=UTC)

    plan = plan_run(SPEC, **_manual_context(None, triggered_at))

    assert (plan["window_start"], plan["window_end"]) == (
        datetime(2026, 3, 1, 6, tzinfo=UTC).isoformat(),
        datetime(2026, 3, 1, 7, tzinfo=UTC).isoformat(),
    )


def test_manual_run_with_nothing_after_the_latest_window_is_skipped() -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    triggered_at = datetime(2026, 3, 1, 7, 42, tzinfo=UTC)
    with pytest.raises(AirflowSkipException, match="nothing new"):
        plan_run(SPEC, **_manual_context(triggered_at, triggered_at))


def test_manual_run_with_window_params_takes_exactly_that_window() -> None:
    context = _manual_context(
        datetime(2026, 3, 1, 5, tzinfo=UTC),
        datetime(2026, 3, 1, 7, 42, tzinfo=UTC),
        window_start="2026-02-01T00:00:00Z",
        window_end="2026-02-02T00:00:00Z",
    )

    plan = plan_run(SPEC, **context)

    assert plan["window_start"] == "2026-02-01T00:00:00+00:00"
    assert plan["window_end"] == "2026-02-02T00:00:00+00:00"


def test_scheduled_run_takes_its_data_interval_whatever_ran_before() -> None:
    context = _manual_context(datetime(2026, 3, 1, 5, tzinfo=UTC), END + timedelta(minutes=3))
    context["dag_run"].run_type = "scheduled"
    context.update(data_interval_start=START, data_interval_end=END)

    plan = plan_run(SPEC, **context)

    assert (plan["window_start"], plan["window_end"]) == (START.isoformat(), END.isoformat())


def test_a_manual_run_that_found_nothing_new_passes_the_mark_on() -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    processed_until = datetime(2026, 3, 1, 7, 50, tzinfo=UTC)
    context = _manual_context(processed_until, datetime(2026, 3, 1, 7, 42, tzinfo=UTC))
    with pytest.raises(AirflowSkipException):
        plan_run(SPEC, **context)
    skipped_run = context["ti"]

    # The next manual run sees the skipped one as the latest success: it starts where the mark is.
    later = _manual_context(None, datetime(2026, 3, 1, 9, tzinfo=UTC))
    later["ti"] = FakeTaskInstance(SimpleNamespace(run_id="this-run", data_interval_end=None), {})
    later["ti"].pushed = skipped_run.pushed
    plan = plan_run(SPEC, **later)

    assert plan["window_start"] == processed_until.isoformat()
