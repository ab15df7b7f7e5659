"""Per pipeline, how its last runs compare: objects processed, failure rate, result rows per object,
job duration and credits, one value per run, oldest first.

Computed from the same ``RunView``s the overview already read (its three queries), so the trends add
no query. A series is one more entry of ``TREND_SERIES``; one whose values are all missing (credits
before any run reported them) is left out of the page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from include.roboflow_batch.webui.runs import RunView


@dataclass(frozen=True)
class TrendSeries:
    key: str
    label: str
    unit: str
    run_ids: list[str]
    values: list[float | None]

    @property
    def latest(self) -> float | None:
        return next((value for value in reversed(self.values) if value is not None), None)


def _processed(run: RunView) -> float | None:
    return None if run.staged is None else float(run.staged)


def _failure_rate(run: RunView) -> float | None:
    if run.staged is None or run.failed is None or run.staged + run.failed == 0:
        return None
    return run.failed / (run.staged + run.failed)


def _rows_per_object(run: RunView) -> float | None:
    if run.result_rows is None or not run.staged:
        return None
    return run.result_rows / run.staged


def _job_minutes(run: RunView) -> float | None:
    return None if run.job_seconds is None else run.job_seconds / 60


def _credits(run: RunView) -> float | None:
    return run.credits


TREND_SERIES: tuple[tuple[str, str, str, Callable[[RunView], float | None]], ...] = (
    ("objects", "Objects processed", "", _processed),
    ("failure_rate", "Failure rate", "%", _failure_rate),
    ("rows_per_object", "Result rows per object", "", _rows_per_object),
    ("job_minutes", "Job duration", "min", _job_minutes),
    ("credits", "Credits", "", _credits),
)


def pipeline_trends(runs: Sequence[RunView]) -> list[TrendSeries]:
    """The series of one pipeline's runs (given newest first, as the overview lists them).

    A repair run re-does part of an earlier window, so it is no point of a per-window trend (its spend
    is in the run's own Spend and in the budgets)."""
    ordered = [run for run in reversed(runs) if not run.repair]
    series = []
    for key, label, unit, value_of in TREND_SERIES:
        values = [value_of(run) for run in ordered]
        if any(value is not None for value in values):
            series.append(TrendSeries(key, label, unit, [run.run_id for run in ordered], values))
    return series
