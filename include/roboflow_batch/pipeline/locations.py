"""Locations that cannot collide: every window of a pipeline gets its own export folder and
references file, and no two pipelines can write to the same place.

Checked by rendering the templates over sample windows of the schedule: consecutive intervals from
``start_date`` plus intervals a day, a week, a month, a year and several years later (a format that
drops the hour, the day or the year is caught). Manual-only pipelines can run any window, so theirs
must tell apart windows that start one second apart.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from include.roboflow_batch.durations import is_duration, parse_duration
from include.roboflow_batch.pipeline.run_window import RunWindow, as_uri, render_uri
from include.roboflow_batch.pipeline.schema import CRON_PRESETS, URI_SCHEMES, LocalSource, PipelineConfig

CONSECUTIVE_INTERVALS = 6
LATER_OFFSETS = (
    timedelta(days=1),
    timedelta(days=7),
    timedelta(days=32),
    timedelta(days=366),
    timedelta(days=3 * 366 + 1),
    timedelta(days=11 * 366),
)
MANUAL_STEPS = (timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1), *LATER_OFFSETS)
Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class Location:
    """One templated location of a pipeline: ``field`` as written in astro.yaml."""

    field: str
    template: str
    is_folder: bool


def locations_of(pipeline: PipelineConfig) -> list[Location]:
    found = [Location("export.destination", pipeline.export.destination, is_folder=True)]
    if not isinstance(pipeline.source, LocalSource):
        found.append(Location("source.references_uri", pipeline.source.references_uri, is_folder=False))
    return found


def _start(pipeline: PipelineConfig) -> datetime:
    import pendulum

    start = pipeline.start_date
    start = start if start.tzinfo else pendulum.instance(start, tz=pipeline.timezone)
    return start.astimezone(UTC)


def _cron_windows(expression: str, timezone: str, start: datetime) -> Iterator[Window]:
    import pendulum
    from croniter import croniter

    zone = pendulum.timezone(timezone)

    def run(after: datetime, count: int) -> Iterator[Window]:
        boundaries = croniter(expression, after.astimezone(zone))
        previous = boundaries.get_next(datetime)
        for _ in range(count):
            following = boundaries.get_next(datetime)
            yield previous.astimezone(UTC), following.astimezone(UTC)
            previous = following

    yield from run(start, CONSECUTIVE_INTERVALS)
    for offset in LATER_OFFSETS:
        yield from run(start + offset, 2)


def _delta_windows(delta: timedelta, start: datetime) -> Iterator[Window]:
    steps = list(range(CONSECUTIVE_INTERVALS))
    steps += [-(-offset // delta) for offset in LATER_OFFSETS]  # the first interval past each offset
    for step in steps:
        yield start + step * delta, start + (step + 1) * delta


def _manual_windows(start: datetime) -> Iterator[Window]:
    yield start, start + timedelta(hours=1)
    for step in MANUAL_STEPS:
        yield start + step, start + step + timedelta(hours=1)


def sample_windows(pipeline: PipelineConfig) -> list[Window]:
    """Windows this pipeline's runs can have, enough to show a template that does not vary."""
    return list(_sample_windows(pipeline.schedule, pipeline.timezone, _start(pipeline)))


@lru_cache(maxsize=256)
def _sample_windows(schedule: str | None, timezone: str, start: datetime) -> tuple[Window, ...]:
    if schedule is None:
        windows = _manual_windows(start)
    elif is_duration(schedule):
        windows = _delta_windows(parse_duration(schedule), start)
    else:
        windows = _cron_windows(CRON_PRESETS.get(schedule, schedule), timezone, start)
    return tuple(dict.fromkeys(windows))


def render(pipeline: PipelineConfig, template: str, window: Window, base_dir: Path) -> str:
    rendered = render_uri(
        template,
        pipeline_id=pipeline.id,
        dag_id=pipeline.dag_id,
        window=RunWindow(window[0], window[1], "interval"),
        base_dir=base_dir,
    )
    return as_uri(rendered, base_dir)


def interval_problems(pipeline: PipelineConfig, base_dir: Path) -> list[tuple[str, str]]:
    """``(field, message)`` for each location that two windows of this pipeline would share."""
    windows = sample_windows(pipeline)
    problems: list[tuple[str, str]] = []
    for location in locations_of(pipeline):
        seen: dict[str, Window] = {}
        for window in windows:
            rendered = render(pipeline, location.template, window, base_dir)
            earlier = seen.setdefault(rendered, window)
            if earlier != window:
                problems.append((location.field, _same_for_two_windows(pipeline, location, earlier, window)))
                break
    return problems


def _same_for_two_windows(pipeline: PipelineConfig, location: Location, first: Window, second: Window) -> str:
    schedule = f"schedule {pipeline.schedule!r}" if pipeline.schedule else "manual runs (schedule: null)"
    finest = "%Y%m%dT%H%M%S" if pipeline.schedule is None else "%Y%m%dT%H%M"
    return (
        f"{location.template!r} gives the same location for the windows starting "
        f"{first[0].isoformat()} and {second[0].isoformat()} ({schedule}), so one run would overwrite "
        f"another's {'results' if location.is_folder else 'references'}; include the window with a format "
        f"as fine as the schedule, e.g. {{interval_start:{finest}}}"
    )


def _ancestors(uri: str) -> Iterator[str]:
    """``s3://b/x/y/`` -> ``s3://b/x/``, ``s3://b/``: the folders that contain ``uri``."""
    root = len(uri.split("://", 1)[0]) + len("://")
    current = uri.rstrip("/")
    while (cut := current.rfind("/")) >= root:
        current = current[:cut]
        yield current + "/"


def _as_folder(uri: str) -> str:
    return uri if uri.endswith("/") else uri + "/"


def _key(rendered: str, location: Location) -> str:
    return _as_folder(rendered) if location.is_folder else rendered


def _pair_windows(first: PipelineConfig, second: PipelineConfig) -> list[Window]:
    """A few consecutive and all the far-apart windows of both schedules."""
    picked: dict[Window, None] = {}
    for pipeline in (first, second):
        windows = sample_windows(pipeline)
        picked.update(dict.fromkeys(windows[:8] + windows[-2 * len(LATER_OFFSETS) :]))
    return list(picked)


_PLAIN_PREFIX = re.compile(r"[A-Za-z0-9/._:-]*")


def _static_prefix(pipeline: PipelineConfig, location: Location, base_dir: Path) -> str | None:
    """The rendered text before the first window placeholder, as a URI; None when it cannot be told
    cheaply (then the pair is always checked in full)."""
    parts: list[str] = []
    for literal, name, spec, _ in string.Formatter().parse(location.template):
        parts.append(literal)
        if name is None:
            continue
        if name not in ("pipeline", "dag_id"):
            break
        parts.append(format(pipeline.id if name == "pipeline" else pipeline.dag_id, spec or ""))
    static = "".join(parts)
    if not static.startswith(URI_SCHEMES):
        if ".." in static or static.startswith("~"):
            return None
        static = "file://" + os.path.normpath(os.path.join(base_dir, static))
    return static if _PLAIN_PREFIX.fullmatch(static) else None


_ID_MARKER = "pipeline-id-marker-7f3a"
_FAR_APART_WINDOWS: tuple[Window, ...] = (
    (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)),
    (datetime(2031, 7, 15, 13, 45, 30, tzinfo=UTC), datetime(2031, 8, 16, 14, 46, 31, tzinfo=UTC)),
)


def _id_segment(location: Location, base_dir: Path) -> tuple[str, int, str] | None:
    """``(placeholder, index, segment)`` when ``{pipeline}`` or ``{dag_id}`` sits in a path segment
    whose other text does not depend on the window (``{pipeline}``, ``{dag_id}.jsonl``).

    Window formats give the same number of ``/`` for every window, so the index is fixed: two
    pipelines whose ids sit in the same such segment never render to the same place, nor one inside
    the other.
    """
    for name in ("pipeline", "dag_id"):
        if "{" + name + "}" not in location.template:
            continue
        values = {"pipeline": "p", "dag_id": "roboflow_p", name: _ID_MARKER}
        found: set[tuple[int, str]] = set()
        for start, end in _FAR_APART_WINDOWS:
            rendered = location.template.format(**values, interval_start=start, interval_end=end)
            segments = as_uri(rendered, base_dir).split("/")
            found.update((index, text) for index, text in enumerate(segments) if _ID_MARKER in text)
        if len(found) == 1:
            [(index, text)] = found
            return name, index, text
    return None


@dataclass(frozen=True)
class _Shape:
    """What can be told about a location without rendering it over many windows."""

    prefix: str | None
    id_segment: tuple[str, int, str] | None


def _may_overlap(first: _Shape, second: _Shape) -> bool:
    if first.id_segment is not None and first.id_segment == second.id_segment:
        return False
    a, b = first.prefix, second.prefix
    return a is None or b is None or a.startswith(b) or b.startswith(a)


def _pair_clash(
    pipeline: PipelineConfig, location: Location, earlier: PipelineConfig, base_dir: Path
) -> str | None:
    """How ``pipeline``'s ``location`` meets one of ``earlier``'s locations of the same kind, or None.

    Any window can be run by any pipeline (``window_start``/``window_end`` params), so both are
    rendered over the sample windows of both schedules.
    """
    windows = _pair_windows(pipeline, earlier)
    claims = _Claims({}, {})
    for other in locations_of(earlier):
        if other.is_folder == location.is_folder:
            for window in windows:
                uri = render(earlier, other.template, window, base_dir)
                claims.claim(earlier.id, other.field, _key(uri, other), other.is_folder)
    for window in windows:
        uri = render(pipeline, location.template, window, base_dir)
        found = claims.clash(pipeline.id, _key(uri, location), location.is_folder)
        if found is not None:
            relation, owner = found
            return (
                f"{location.template!r} gives {relation} pipeline {owner[0]!r} ({owner[1]}) for the "
                f"window starting {window[0].isoformat()}: {uri}; the two pipelines would overwrite "
                "each other's files. Include {pipeline} in the template, or use separate folders"
            )
    return None


@dataclass
class _Claims:
    """Rendered locations already claimed, with the folders that contain claimed folders."""

    exact: dict[str, tuple[str, str]]
    containing: dict[str, tuple[str, str]]

    def clash(self, pipeline_id: str, key: str, is_folder: bool) -> tuple[str, tuple[str, str]] | None:
        owner = self.exact.get(key)
        if owner is not None and owner[0] != pipeline_id:
            return "the same location as", owner
        if not is_folder:
            return None
        for ancestor in _ancestors(key):
            owner = self.exact.get(ancestor)
            if owner is not None and owner[0] != pipeline_id:
                return "a location inside that of", owner
        owner = self.containing.get(key)
        if owner is not None and owner[0] != pipeline_id:
            return "a location that contains that of", owner
        return None

    def claim(self, pipeline_id: str, field: str, key: str, is_folder: bool) -> None:
        self.exact.setdefault(key, (pipeline_id, field))
        if is_folder:
            for ancestor in _ancestors(key):
                self.containing.setdefault(ancestor, (pipeline_id, field))


def collision_problems(pipelines: Iterable[PipelineConfig], base_dir: Path) -> list[tuple[str, str, str]]:
    """``(pipeline id, field, message)`` for each pipeline whose locations can coincide with, lie
    inside or contain an earlier accepted pipeline's for some window. Only pairs whose fixed leading
    text could meet are rendered, so the check stays cheap for many pipelines.
    """
    accepted: list[tuple[PipelineConfig, dict[Location, _Shape]]] = []
    problems: list[tuple[str, str, str]] = []
    for pipeline in pipelines:
        shapes = {
            loc: _Shape(_static_prefix(pipeline, loc, base_dir), _id_segment(loc, base_dir))
            for loc in locations_of(pipeline)
        }
        clash = _first_clash(pipeline, shapes, accepted, base_dir)
        if clash is not None:
            problems.append((pipeline.id, *clash))
        else:
            accepted.append((pipeline, shapes))
    return problems


def _first_clash(
    pipeline: PipelineConfig,
    shapes: dict[Location, _Shape],
    accepted: list[tuple[PipelineConfig, dict[Location, _Shape]]],
    base_dir: Path,
) -> tuple[str, str] | None:
    for location, shape in shapes.items():
        for earlier, earlier_shapes in accepted:
            if not any(
                other.is_folder == location.is_folder and _may_overlap(shape, other_shape)
                for other, other_shape in earlier_shapes.items()
            ):
                continue
            message = _pair_clash(pipeline, location, earlier, base_dir)
            if message is not None:
                return location.field, message
    return None
