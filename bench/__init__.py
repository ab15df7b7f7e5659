"""Benchmarks: ``make bench`` (``python -m bench``) runs every ``bench/bench_*.py`` module.

Each module exposes ``run() -> list[dict]``; one dict per measurement, with these keys:

- ``benchmark`` (str): short id, e.g. ``"s3_references"``;
- ``metric`` (str): what was measured, in words;
- ``value`` (float) and ``unit`` (str);
- ``baseline`` (float | None) and ``baseline_name`` (str | None): the side-by-side measure;
- ``ratio`` (float | None): value / baseline (how many times better, for rates; the reverse is
  stated in ``metric`` when lower is better);
- ``target`` (str | None) and ``met`` (bool | None): the goal, and whether this run reached it;
- ``detail`` (str): sizes, repeats, anything needed to read the number.

Benchmarks are not tests: they never fail the build, they report.
"""

from __future__ import annotations

from typing import Any


def result(
    benchmark: str,
    metric: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    baseline_name: str | None = None,
    ratio: float | None = None,
    target: str | None = None,
    met: bool | None = None,
    detail: str = "",
) -> dict[str, Any]:
    """One row of results, with the ratio computed when a baseline is given."""
    if ratio is None and baseline:
        ratio = value / baseline
    return {
        "benchmark": benchmark,
        "metric": metric,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_name": baseline_name,
        "ratio": ratio,
        "target": target,
        "met": met,
        "detail": detail,
    }
