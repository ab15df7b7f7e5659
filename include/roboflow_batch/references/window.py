"""The selection window of a run: objects whose last-modified time is in ``[start, end)``.

S3Hook.list_keys filters ``(from, to]`` and GCSHook.list_by_timespan ``[start, end)``; the
references generator filters itself, with the one half-open rule for both stores, so that
consecutive runs neither miss nor repeat an object on the boundary.

``parse_moment`` is the one reader of a window's times, for the operators' ``interval_start`` /
``interval_end`` and a pipeline run's ``window_start`` / ``window_end`` params alike: a time without
a time zone is in the DAG's time zone (a pipeline's ``timezone``; UTC when the DAG names none).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

Select = Literal["interval", "all"]
SELECT_MODES: tuple[Select, ...] = ("interval", "all")


@dataclass(frozen=True)
class SelectionWindow:
    """Half-open ``[start, end)``; ``None`` on both ends selects every object."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        if (self.start is None) != (self.end is None):
            raise ValueError("a selection window needs both start and end, or neither")
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError(
                f"the selection window is empty: start {self.start.isoformat()} is not before "
                f"end {self.end.isoformat()}"
            )

    @property
    def selects_all(self) -> bool:
        return self.start is None

    def contains(self, moment: datetime) -> bool:
        if self.start is None or self.end is None:
            return True
        return self.start <= moment < self.end

    def describe(self) -> str:
        if self.start is None or self.end is None:
            return "all objects"
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def parse_moment(field: str, value: object, zone: tzinfo = UTC) -> datetime:
    """``value`` (a datetime or an ISO 8601 string) as a time in UTC; one without a time zone is in
    ``zone``. ``ValueError`` names ``field``."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"{field}: {value!r} is not an ISO 8601 time such as 2026-03-01T04:00:00+00:00"
            ) from None
    if not isinstance(value, datetime):
        raise ValueError(f"{field}: expected an ISO 8601 time, got {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    # A plain datetime compares faster than pendulum's subclass in the per-object filter.
    return datetime.fromtimestamp(value.timestamp(), tz=UTC)


def dag_zone(context: Mapping[str, Any]) -> tzinfo:
    """The time zone of the running DAG, for times given without one (UTC when it names none)."""
    zone = getattr(context.get("dag"), "timezone", None)
    return zone if isinstance(zone, tzinfo) else UTC


def resolve_window(
    select: object,
    context: Mapping[str, Any],
    interval_start: Any = None,
    interval_end: Any = None,
) -> SelectionWindow:
    """The window for a task run: explicit overrides first, then the run's data interval."""
    if select not in SELECT_MODES:
        raise ValueError(f"select must be one of {', '.join(SELECT_MODES)}; got {select!r}")
    if select == "all":
        return SelectionWindow()
    if (interval_start is None) != (interval_end is None):
        raise ValueError("interval_start and interval_end must be given together")
    if interval_start is not None:
        zone = dag_zone(context)
        return SelectionWindow(
            parse_moment("interval_start", interval_start, zone),
            parse_moment("interval_end", interval_end, zone),
        )
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None:
        raise ValueError(
            'select="interval" needs a data interval, and this run has none (a manual or API-triggered '
            'run without a logical date); pass interval_start and interval_end, or use select="all"'
        )
    start, end = parse_moment("data_interval_start", start), parse_moment("data_interval_end", end)
    if start == end:
        raise ValueError(
            f"the run's data interval has zero width ({start.isoformat()}); schedule the DAG with a "
            "data-interval timetable such as CronDataIntervalTimetable, or pass interval_start and "
            "interval_end"
        )
    return SelectionWindow(start, end)


def is_dry_run(value: object) -> bool:
    """A dry-run flag as given or as a template renders it (``"True"``, ``"true"``)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)
