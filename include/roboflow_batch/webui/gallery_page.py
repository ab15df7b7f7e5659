"""HTML of a run's gallery (on its Roboflow tab) and of one image with its raw prediction.

Images come only from this view's own media route for the run (``media?key=``); every text is
escaped; there is no script: a click on an image is a plain link to its page.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from include.roboflow_batch.webui import svg
from include.roboflow_batch.webui.gallery import Gallery, GalleryItem
from include.roboflow_batch.webui.media import MEDIA_TYPES
from include.roboflow_batch.webui.pages import page
from include.roboflow_batch.webui.runs import RunView

GALLERY_STYLE = """
.gallery .summary{display:flex;gap:32px;flex-wrap:wrap;margin:8px 0 12px}
.gallery .grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:12px}
.gallery figure{margin:0;border:1px solid #e5e7eb;border-radius:6px;padding:6px;background:#fafafa}
.gallery figure svg.thumb,.gallery figure .placeholder{width:100%;height:160px;display:block;background:#111}
.gallery figcaption{font-size:12px;margin-top:4px;word-break:break-all}
.why{display:inline-block;font-size:11px;padding:0 6px;border-radius:8px;background:#e0e7ff;margin-right:4px}
.why-failed{background:#fecaca}.failure{color:#b91c1c}
.placeholder{color:#fca5a5;display:flex;align-items:center;justify-content:center;text-align:center}
svg.large{width:100%;max-height:70vh;background:#111}
pre.raw{background:#f3f4f6;padding:8px;overflow:auto;max-height:50vh;font-size:12px}
"""
MAX_RAW_ROWS = 16


def run_path(base: str, run: RunView) -> str:
    return f"{base}/runs/{quote(run.dag_id, safe='')}/{quote(run.run_id, safe='')}"


def media_href(base: str, run: RunView, key: str) -> str:
    return f"{run_path(base, run)}/media?{urlencode({'key': key})}"


def image_href(base: str, run: RunView, key: str) -> str:
    return f"{run_path(base, run)}/image?{urlencode({'key': key})}"


def _shows_as_image(key: str) -> bool:
    return key.rsplit(".", 1)[-1].lower() in MEDIA_TYPES


def _caption(item: GalleryItem) -> str:
    why = f'<span class="why why-{escape(item.reason.replace(" ", "-"))}">{escape(item.reason)}</span>'
    if item.failure is not None:
        reason = item.failure.get("reason") or item.failure.get("reason_type") or "failed"
        detail = (
            f'<span class="failure">{escape(str(item.failure.get("stage")))}: {escape(str(reason))}</span>'
        )
    elif item.predictions:
        found = len(item.predictions)
        best = f", best {item.top_confidence:.2f}" if item.top_confidence is not None else ""
        detail = f"{found} prediction{'s' if found != 1 else ''}{best}"
    else:
        detail = '<span class="muted">nothing found</span>'
    return f"<figcaption>{why}<code>{escape(item.source_key)}</code><br>{detail}</figcaption>"


def _visual(base: str, run: RunView, item: GalleryItem, css_class: str) -> str:
    if item.is_video:
        frames = item.frames_by_class()
        if not frames:
            return '<div class="placeholder">video: nothing found in its frames</div>'
        return svg.timeline(frames, item.last_frame(), width=480)
    if _never_sent(item) or not _shows_as_image(item.source_key):
        return f'<div class="placeholder">{escape("no image to show")}</div>'
    size = item.size or (640, 480)
    return svg.overlay(media_href(base, run, item.source_key), size[0], size[1], item.predictions, css_class)


def _never_sent(item: GalleryItem) -> bool:
    """Skipped while listing: not in the run's manifest as processed or failed, so it has no page."""
    return item.failure is not None and item.failure.get("stage") == "listing"


def _card(base: str, run: RunView, item: GalleryItem) -> str:
    visual = _visual(base, run, item, "thumb")
    if not _never_sent(item):
        visual = f'<a class="item-link" href="{escape(image_href(base, run, item.source_key))}">{visual}</a>'
    return (
        f'<figure class="item" data-key="{escape(item.source_key)}" data-why="{escape(item.reason)}" '
        f'data-predictions="{len(item.predictions)}">{visual}{_caption(item)}</figure>'
    )


def gallery_section(base: str, run: RunView, gallery: Gallery) -> str:
    cards = "".join(_card(base, run, item) for item in gallery.items)
    classes = (
        svg.bars(gallery.class_counts) if gallery.class_counts else '<p class="muted">no class found</p>'
    )
    return (
        f'<section class="gallery" data-objects="{gallery.objects}" data-rows="{gallery.rows}">'
        "<h2>What the model found</h2>"
        f'<p class="muted">{gallery.objects} objects with results, {gallery.rows} result records, '
        f"{gallery.failures} failed or skipped. The sample shows the most and least confident, failures "
        f"and a random rest ({len(gallery.items)} shown), the same on every reload; click one for its "
        "raw prediction.</p>"
        f'<div class="summary"><div><h3>Classes</h3>{classes}</div>'
        f"<div><h3>Confidence</h3>{svg.histogram(gallery.histogram)}</div></div>"
        f'<div class="grid">{cards}</div></section>'
    )


def gallery_unavailable(message: str) -> str:
    return (
        f'<section class="gallery gallery-unavailable"><h2>What the model found</h2>'
        f'<p class="muted">{escape(message)}</p></section>'
    )


def _record_rows(records: Sequence[Mapping[str, Any]]) -> str:
    columns = ("frame_number", "output_kind", "class_name", "confidence", "x", "y", "width", "height")
    head = "".join(f"<th>{c}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{escape('—' if r.get(c) is None else str(r.get(c)))}</td>" for c in columns)
        + "</tr>"
        for r in records
    )
    return f'<table class="records"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def image_page(base: str, run: RunView, item: GalleryItem, raw_rows: Sequence[Mapping[str, Any]]) -> str:
    """One object larger, its records and the raw result rows they were read from."""
    raw = "\n".join(
        json.dumps(row, indent=2, sort_keys=True, ensure_ascii=False) for row in raw_rows[:MAX_RAW_ROWS]
    )
    more = (
        f"<p class='muted'>and {len(raw_rows) - MAX_RAW_ROWS} more rows</p>"
        if len(raw_rows) > MAX_RAW_ROWS
        else ""
    )
    failure = ""
    if item.failure is not None:
        failure = (
            f"<p class='failure'>Failed at {escape(str(item.failure.get('stage')))}: "
            f"{escape(str(item.failure.get('reason') or item.failure.get('reason_type')))}</p>"
        )
    body = (
        f"<p><a class='back-link' href='{escape(run_path(base, run))}'>&larr; back to the run</a></p>"
        f"<h1>{escape(item.source_key)}</h1>{failure}"
        f"<div class='large-view'>{_visual(base, run, item, 'large')}</div>"
        f"<h2>Predictions</h2>{_record_rows(item.records)}"
        f"<h2>Raw prediction</h2><pre class='raw'>{escape(raw) or '—'}</pre>{more}"
    )
    return page(f"{item.source_key} - {run.run_id}", body, GALLERY_STYLE)
