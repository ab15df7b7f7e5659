from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pendulum
import pytest

from include.roboflow_batch.references.window import SelectionWindow, resolve_window

START = datetime(2026, 3, 1, 4, tzinfo=UTC)
END = datetime(2026, 3, 1, 5, tzinfo=UTC)


def test_window_is_half_open() -> None:
    window = SelectionWindow(START, END)
    assert window.contains(START)
    assert window.contains(END - timedelta(microseconds=1))
    assert not window.contains(END)
    assert not window.contains(START - timedelta(seconds=1))


def test_consecutive_windows_take_a_boundary_object_exactly_once() -> None:
    first, second = SelectionWindow(START, END), SelectionWindow(END, END + timedelta(hours=1))
    assert [first.contains(END), second.contains(END)] == [False, True]


def test_window_compares_across_time_zones() -> None:
    window = SelectionWindow(START, END)
    assert window.contains(datetime(2026, 3, 1, 5, 30, tzinfo=timezone(timedelta(hours=1))))


def test_run_data_interval_is_used() -> None:
    context = {
        "data_interval_start": pendulum.datetime(2026, 3, 1, 4),
        "data_interval_end": pendulum.datetime(2026, 3, 1, 5),
    }
    window = resolve_window("interval", context)
    assert (window.start, window.end) == (START, END)


def test_explicit_bounds_override_the_run_interval() -> None:
    context = {"data_interval_start": START, "data_interval_end": END}
    window = resolve_window("interval", context, "2026-02-01T00:00:00+00:00", "2026-02-02T00:00:00+00:00")
    assert window.start == datetime(2026, 2, 1, tzinfo=UTC)
    assert window.end == datetime(2026, 2, 2, tzinfo=UTC)


def test_select_all_needs_no_interval() -> None:
    window = resolve_window("all", {})
    assert window.selects_all
    assert window.contains(datetime(1990, 1, 1, tzinfo=UTC))


def test_missing_interval_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="interval_start and interval_end"):
        resolve_window("interval", {"data_interval_start": None, "data_interval_end": None})


def test_zero_width_interval_points_to_the_timetable() -> None:
    with pytest.raises(ValueError, match="CronDataIntervalTimetable"):
        resolve_window("interval", {"data_interval_start": START, "data_interval_end": START})


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("yesterday", "2026-02-02T00:00:00+00:00", "interval_start: 'yesterday' is not an ISO 8601"),
        ("2026-02-01T00:00:00+00:00", 7, "interval_end: expected an ISO 8601 time, got 7"),
        ("2026-02-02T00:00:00+00:00", "2026-02-01T00:00:00+00:00", "is not before"),
        ("2026-02-02T00:00:00+00:00", None, "given together"),
    ],
)
def test_bad_overrides_name_the_field(start: str, end: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_window("interval", {}, start, end)


def test_unknown_select_is_rejected() -> None:
    with pytest.raises(ValueError, match="select must be one of"):
        resolve_window("new", {})


def test_a_time_without_a_time_zone_is_in_the_dags_time_zone_as_for_run_params() -> None:
    import pendulum

    dag = SimpleNamespace(timezone=pendulum.timezone("America/New_York"))

    window = resolve_window("interval", {"dag": dag}, "2026-02-01T00:00:00", "2026-02-02T00:00:00-05:00")
    in_utc = resolve_window("interval", {}, "2026-02-01T00:00:00", "2026-02-02T00:00:00")

    assert (window.start, window.end) == (
        datetime(2026, 2, 1, 5, tzinfo=UTC),
        datetime(2026, 2, 2, 5, tzinfo=UTC),
    )
    assert in_utc.start == datetime(2026, 2, 1, tzinfo=UTC)  # a DAG that names no time zone: UTC
