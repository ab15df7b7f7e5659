"""Budget periods: the calendar day and the calendar month around a moment, in a time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

PeriodKind = Literal["day", "month"]


@dataclass(frozen=True)
class Period:
    """``[start, end)`` (aware), named ``2026-03-01`` (a day) or ``2026-03`` (a month) in ``timezone``."""

    kind: PeriodKind
    start: datetime
    end: datetime
    label: str
    timezone: str

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def describe(self) -> str:
        return f"{self.kind} {self.label} ({self.timezone})"


def period_of(kind: PeriodKind, moment: datetime, timezone: str) -> Period:
    """The day or month of ``moment`` (aware) in ``timezone``; a day of a DST change is 23 or 25 hours."""
    zone = ZoneInfo(timezone)
    local = moment.astimezone(zone)
    if kind == "day":
        start = datetime(local.year, local.month, local.day, tzinfo=zone)
        after = (start + timedelta(days=1, hours=3)).date()  # past any DST shift, then back to midnight
        end = datetime(after.year, after.month, after.day, tzinfo=zone)
        label = start.strftime("%Y-%m-%d")
    else:
        start = datetime(local.year, local.month, 1, tzinfo=zone)
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        end = datetime(year, month, 1, tzinfo=zone)
        label = start.strftime("%Y-%m")
    return Period(kind, start.astimezone(UTC), end.astimezone(UTC), label, timezone)


def utc_months(start: datetime, end: datetime) -> list[str]:
    """``YYYY-MM`` of every UTC month that ``[start, end)`` touches, oldest first."""
    months: list[str] = []
    cursor = datetime(start.astimezone(UTC).year, start.astimezone(UTC).month, 1, tzinfo=UTC)
    last = (end - timedelta(microseconds=1)).astimezone(UTC)
    while cursor <= last:
        months.append(cursor.strftime("%Y-%m"))
        cursor = datetime(cursor.year + cursor.month // 12, cursor.month % 12 + 1, 1, tzinfo=UTC)
    return months
