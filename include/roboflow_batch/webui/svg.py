"""Inline SVG of the Roboflow view: predictions drawn over an image, sparklines, bars, a histogram and a
per-frame timeline. Server-rendered, no script; every text is escaped and every number formatted here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from include.roboflow_batch.webui.trends import TrendSeries

PALETTE = ("#e11d48", "#2563eb", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d")


def class_colour(name: str | None) -> str:
    """The same colour for a class on every page (a stable hash, not the order classes appear in)."""
    digest = hashlib.sha256((name or "").encode()).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def _n(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def format_value(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit == "%":
        return f"{value * 100:.1f}%"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip()


def _label(prediction: Mapping[str, Any]) -> str:
    confidence = _number(prediction.get("confidence"))
    name = str(prediction.get("class_name") or "")
    return f"{name} {confidence:.2f}" if confidence is not None else name


def _shape(prediction: Mapping[str, Any], stroke: float, image_width: int) -> str:
    """One prediction's marks: its box and label (kept inside the image), outline polygon, keypoints."""
    colour = class_colour(prediction.get("class_name"))
    parts = []
    x, y = _number(prediction.get("x")), _number(prediction.get("y"))
    width, height = _number(prediction.get("width")), _number(prediction.get("height"))
    if x is not None and y is not None and width is not None and height is not None:
        left, top = x - width / 2, y - height / 2
        label = _label(prediction)
        # About 0.6 em per character: a label that would run off the right edge ends at it instead.
        text_x = max(0.0, min(left, image_width - 0.6 * stroke * 5 * len(label)))
        parts.append(
            f'<rect class="box" x="{_n(left)}" y="{_n(top)}" width="{_n(width)}" height="{_n(height)}" '
            f'fill="none" stroke="{colour}" stroke-width="{_n(stroke)}"/>'
            f'<text x="{_n(text_x)}" y="{_n(max(top - stroke, stroke * 4))}" fill="{colour}" '
            f'font-size="{_n(stroke * 5)}" paint-order="stroke" stroke="#fff" '
            f'stroke-width="{_n(stroke / 2)}">{escape(label)}</text>'
        )
    points = prediction.get("points") or []
    if points:
        coordinates = " ".join(f"{_n(p['x'])},{_n(p['y'])}" for p in points if _valid_point(p))
        parts.append(
            f'<polygon class="outline" points="{coordinates}" fill="{colour}" fill-opacity="0.25" '
            f'stroke="{colour}" stroke-width="{_n(stroke)}"/>'
        )
    for keypoint in prediction.get("keypoints") or []:
        if _valid_point(keypoint):
            parts.append(
                f'<circle class="keypoint" cx="{_n(keypoint["x"])}" cy="{_n(keypoint["y"])}" '
                f'r="{_n(stroke * 1.5)}" fill="{colour}" stroke="#fff" stroke-width="{_n(stroke / 3)}">'
                f"<title>{escape(str(keypoint.get('class_name') or ''))}</title></circle>"
            )
    return (
        f'<g class="prediction" data-class="{escape(str(prediction.get("class_name") or ""))}">'
        f"{''.join(parts)}</g>"
    )


def _valid_point(point: Any) -> bool:
    if not isinstance(point, Mapping):
        return False
    return _number(point.get("x")) is not None and _number(point.get("y")) is not None


def overlay(
    href: str, width: int, height: int, predictions: Sequence[Mapping[str, Any]], css_class: str
) -> str:
    """The image at ``href`` (this view's own media route) with every prediction drawn in its pixels."""
    stroke = max(1.0, min(width, height) / 120)
    shapes = "".join(_shape(p, stroke, width) for p in predictions)
    # Classes without a box (classification) as labels in the top-left corner, one under the other.
    labels = [p for p in predictions if _number(p.get("x")) is None and p.get("class_name") is not None]
    size = stroke * 8
    shapes += "".join(
        f'<text class="label" data-class="{escape(str(p.get("class_name")))}" x="{_n(size / 2)}" '
        f'y="{_n(size * (index + 1.2))}" font-size="{_n(size)}" fill="{class_colour(p.get("class_name"))}" '
        f'paint-order="stroke" stroke="#fff" stroke-width="{_n(size / 8)}">{escape(_label(p))}</text>'
        for index, p in enumerate(labels)
    )
    return (
        f'<svg class="{css_class}" viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg" data-width="{width}" data-height="{height}">'
        f'<image href="{escape(href)}" x="0" y="0" width="{width}" height="{height}"/>{shapes}</svg>'
    )


def sparkline(series: TrendSeries, width: int = 180, height: int = 40) -> str:
    """One point per run (oldest left), joined where consecutive runs both have a value."""
    count = len(series.values)
    known = [v for v in series.values if v is not None]
    low, high = (min(known), max(known)) if known else (0.0, 1.0)
    span = high - low or 1.0
    pad = 4

    def x_of(index: int) -> float:
        return pad + (width - 2 * pad) * (index / (count - 1) if count > 1 else 0.5)

    def y_of(value: float) -> float:
        return height - pad - (height - 2 * pad) * ((value - low) / span if high > low else 0.5)

    segments: list[list[str]] = [[]]
    points = []
    for index, (run_id, value) in enumerate(zip(series.run_ids, series.values, strict=True)):
        if value is None:
            segments.append([])
            continue
        x, y = x_of(index), y_of(value)
        segments[-1].append(f"{_n(x)},{_n(y)}")
        points.append(
            f'<circle class="point" cx="{_n(x)}" cy="{_n(y)}" r="2.5" fill="#2563eb" '
            f'data-run-id="{escape(run_id)}">'
            f"<title>{escape(run_id)}: {escape(format_value(value, series.unit))}</title></circle>"
        )
    lines = "".join(
        f'<polyline points="{" ".join(segment)}" fill="none" stroke="#2563eb" stroke-width="1.5"/>'
        for segment in segments
        if len(segment) > 1
    )
    return (
        f'<svg class="sparkline" data-series="{escape(series.key)}" data-points="{len(points)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(series.label)}">'
        f'<rect x="0.5" y="0.5" width="{width - 1}" height="{height - 1}" fill="#f8fafc" stroke="#e5e7eb"/>'
        f"{lines}{''.join(points)}</svg>"
    )


def bars(counts: Sequence[tuple[str, int]], width: int = 320, bar_height: int = 16) -> str:
    """Horizontal bars, one per class, with its count."""
    most = max((count for _, count in counts), default=0) or 1
    rows = []
    for index, (name, count) in enumerate(counts):
        y = index * (bar_height + 4)
        length = (width - 150) * count / most
        rows.append(
            f'<g class="class-count" data-class="{escape(name)}" data-count="{count}">'
            f'<text x="0" y="{y + bar_height - 4}" font-size="12">{escape(name)}</text>'
            f'<rect x="110" y="{y}" width="{_n(max(length, 1))}" height="{bar_height}" '
            f'fill="{class_colour(name)}"/>'
            f'<text x="{_n(114 + length)}" y="{y + bar_height - 4}" font-size="12">{count}</text></g>'
        )
    height = max(len(counts) * (bar_height + 4), bar_height)
    return (
        f'<svg class="class-counts" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(rows)}</svg>'
    )


def histogram(bins: Sequence[int], width: int = 320, height: int = 90) -> str:
    """Confidence from 0 (left) to 1 (right), one bar per bin."""
    most = max(bins, default=0) or 1
    step = width / max(len(bins), 1)
    bars_svg = []
    for index, count in enumerate(bins):
        bar = (height - 16) * count / most
        low, high = index / len(bins), (index + 1) / len(bins)
        bars_svg.append(
            f'<rect class="bin" data-count="{count}" x="{_n(index * step + 1)}" y="{_n(height - 16 - bar)}" '
            f'width="{_n(step - 2)}" height="{_n(bar)}" fill="#6366f1">'
            f"<title>{low:.1f} to {high:.1f}: {count}</title></rect>"
        )
    axis = (
        f'<text x="0" y="{height - 2}" font-size="11">0</text>'
        f'<text x="{width - 8}" y="{height - 2}" font-size="11">1</text>'
    )
    return (
        f'<svg class="confidence-histogram" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">{"".join(bars_svg)}{axis}</svg>'
    )


def timeline(frames: Mapping[str, Sequence[tuple[int, int]]], last_frame: int, width: int = 520) -> str:
    """Detections per frame, one line per class: what a video showed, frame by frame."""
    height, pad = 110, 6
    most = max((count for series in frames.values() for _, count in series), default=0) or 1
    span = max(last_frame, 1)
    lines = []
    for name, series in sorted(frames.items()):
        points = " ".join(
            f"{_n(pad + (width - 2 * pad) * frame / span)},"
            f"{_n(height - pad - (height - 2 * pad) * count / most)}"
            for frame, count in sorted(series)
        )
        lines.append(
            f'<polyline class="frames" data-class="{escape(name)}" points="{points}" fill="none" '
            f'stroke="{class_colour(name)}" stroke-width="1.5"><title>{escape(name)}</title></polyline>'
        )
    return (
        f'<svg class="timeline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(lines)}</svg>'
    )
