"""Credits for machine time, machine time for credits, and the calendar periods budgets run over."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from include.roboflow_batch.spend.periods import period_of, utc_months
from include.roboflow_batch.spend.rates import Rates


def test_default_rates_make_a_gpu_hour_four_cpu_hours() -> None:
    rates = Rates()
    assert rates.credits(3600, "cpu") == 1.0
    assert rates.credits(3600, "gpu") == 4.0
    assert rates.credits(900, None) == 0.25  # no machine type: the service's CPU default


def test_seconds_for_credits_round_down_so_a_ceiling_never_costs_more() -> None:
    rates = Rates(cpu=1.0, gpu=4.0)
    assert rates.seconds(1.0, "cpu") == 3600
    assert rates.seconds(1.0, "gpu") == 900
    assert rates.seconds(0.00041, "cpu") == 1  # 1.476 s
    assert rates.seconds(0.0002, "cpu") == 0
    assert rates.seconds(-1, "cpu") == 0
    # 0.7 credits at 0.7 per hour is exactly an hour, not a second less.
    assert Rates(cpu=0.7).seconds(0.7, "cpu") == 3600
    assert rates.credits(rates.seconds(2.345, "gpu"), "gpu") <= 2.345


def test_a_day_is_the_calendar_day_of_the_pipeline_time_zone() -> None:
    moment = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    utc_day = period_of("day", moment, "UTC")
    assert utc_day.label == "2026-03-01" and utc_day.contains(moment)
    berlin = period_of("day", moment, "Europe/Berlin")  # 00:30 on the 2nd there
    assert berlin.label == "2026-03-02"
    assert berlin.start == datetime(2026, 3, 1, 23, 0, tzinfo=UTC)
    assert berlin.end == datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    tokyo = period_of("month", datetime(2026, 1, 31, 16, tzinfo=UTC), "Asia/Tokyo")
    assert tokyo.label == "2026-02" and tokyo.start == datetime(2026, 1, 31, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "hours"),
    [(datetime(2026, 3, 29, 12, tzinfo=UTC), 23), (datetime(2026, 10, 25, 12, tzinfo=UTC), 25)],
)
def test_days_of_a_clock_change_are_23_or_25_hours(moment: datetime, hours: int) -> None:
    day = period_of("day", moment, "Europe/Berlin")
    assert (day.end - day.start).total_seconds() == hours * 3600


def test_december_rolls_over_and_utc_months_cover_a_local_month() -> None:
    december = period_of("month", datetime(2026, 12, 15, tzinfo=UTC), "America/New_York")
    assert december.label == "2026-12"
    assert december.end == datetime(2027, 1, 1, 5, tzinfo=UTC)
    assert utc_months(december.start, december.end) == ["2026-12", "2027-01"]
    utc = period_of("month", datetime(2026, 12, 15, tzinfo=UTC), "UTC")
    assert utc_months(utc.start, utc.end) == ["2026-12"]
