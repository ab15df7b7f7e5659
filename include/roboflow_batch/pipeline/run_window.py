"""Which window a run processes, and the ids and locations derived from it.

Everything here is a pure function of the pipeline and the window, so a retry, a re-run or a
backfill of the same interval reuses the same staging batch, job and export folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, Literal

from include.roboflow_batch.pipeline.run_params import SELECT_ALL, WINDOW_END, WINDOW_START
from include.roboflow_batch.pipeline.schema import URI_SCHEMES
from include.roboflow_batch.references.window import parse_moment

ID_TIME_FORMAT = "%Y%m%dt%H%M%S"


class RunWindowError(ValueError):
    """The run has no usable window; the message says how to give it one."""


@dataclass(frozen=True)
class RunWindow:
    """The window a run processes and is named after: ``[start, end)``; ``start`` is None when the run
    selects everything (``select_all``), and ``end`` still names it."""

    start: datetime | None
    end: datetime
    select: Literal["interval", "all"]


def _parse_time(name: str, value: object, zone: tzinfo) -> datetime:
    try:
        return parse_moment(f"params.{name}", value, zone)
    except ValueError as exc:
        raise RunWindowError(str(exc)) from None


def resolve_run_window(
    data_interval_start: datetime | None,
    data_interval_end: datetime | None,
    params: dict[str, Any],
    run_after: datetime | None = None,
    zone: tzinfo = UTC,
) -> RunWindow:
    """The window of a run; times given without a time zone are in ``zone`` (the DAG's).

    Order: explicit ``params.window_start``/``window_end`` (a manual re-run of any window), then the
    run's data interval, then ``params.select_all`` (everything under the source, named after the
    run's time). A run with none of these fails with a message naming the params to set.
    """
    window_start, window_end = params.get(WINDOW_START), params.get(WINDOW_END)
    select_all = bool(params.get(SELECT_ALL))
    if (window_start is None) != (window_end is None):
        missing = "window_end" if window_end is None else "window_start"
        raise RunWindowError(f"params.{missing}: set both window_start and window_end, or neither")
    if window_start is not None:
        start, end = _parse_time(WINDOW_START, window_start, zone), _parse_time(WINDOW_END, window_end, zone)
        if end <= start:
            raise RunWindowError(f"params.window_end ({end.isoformat()}) must be after window_start")
        return RunWindow(start, end, "all" if select_all else "interval")
    has_interval = (
        data_interval_start is not None
        and data_interval_end is not None
        and data_interval_end > data_interval_start
    )
    if has_interval and not select_all:
        return RunWindow(data_interval_start, data_interval_end, "interval")  # type: ignore[arg-type]
    if select_all:
        end = data_interval_end or run_after or datetime.now(UTC)
        return RunWindow(None, end, "all")
    raise RunWindowError(
        "this run has no data interval (it was triggered without a logical date): trigger it with a "
        "logical date, or set params window_start and window_end (ISO 8601), or params select_all=true"
    )


class NothingNewError(RunWindowError):
    """A manual run found no time after the latest processed window: there is nothing new."""

    def __init__(self, message: str, processed_until: datetime) -> None:
        super().__init__(message)
        self.processed_until = processed_until


def manual_window(
    latest_processed_end: datetime | None,
    data_interval_start: datetime | None,
    data_interval_end: datetime | None,
    triggered_at: datetime,
) -> RunWindow:
    """The window of a manual run without params: what is new since the latest processed window.

    ``[end of the latest successfully processed window, trigger time)``. A pipeline that has never
    processed a window takes the run's data interval (the last complete interval of the schedule).
    """
    if latest_processed_end is not None:
        if latest_processed_end >= triggered_at:
            raise NothingNewError(
                "nothing new: the latest processed window already ends at "
                f"{latest_processed_end.isoformat()}, not before this run's trigger time "
                f"{triggered_at.isoformat()}",
                latest_processed_end,
            )
        return RunWindow(latest_processed_end, triggered_at, "interval")
    return resolve_run_window(data_interval_start, data_interval_end, {}, triggered_at)


def render_uri(template: str, *, pipeline_id: str, dag_id: str, window: RunWindow, base_dir: Path) -> str:
    """Fill an astro.yaml URI template; plain paths become ``file://`` URIs (relative to ``base_dir``)."""
    start = window.start or window.end
    rendered = template.format(
        pipeline=pipeline_id, dag_id=dag_id, interval_start=start, interval_end=window.end
    )
    return as_uri(rendered, base_dir)


def as_uri(location: str, base_dir: Path) -> str:
    """``s3://``/``gs://``/``file://`` unchanged; a path becomes an absolute ``file://`` URI."""
    if location.startswith(URI_SCHEMES):
        return location
    uri = resolve_path(location, base_dir).as_uri()
    return uri + "/" if location.endswith("/") and not uri.endswith("/") else uri


def window_key(window: RunWindow) -> tuple[str, str]:
    """Two strings that identify the window inside batch and job ids."""
    start = window.start.astimezone(UTC).strftime(ID_TIME_FORMAT) if window.start else "all"
    return start, window.end.astimezone(UTC).strftime(ID_TIME_FORMAT)


def resolve_path(location: str, base_dir: Path) -> Path:
    """An absolute path; a relative one is taken relative to ``base_dir`` (the astro.yaml folder)."""
    path = Path(location).expanduser()
    return (path if path.is_absolute() else base_dir / path).resolve()
