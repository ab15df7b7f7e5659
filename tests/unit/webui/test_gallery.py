"""The gallery's sample, counts and drawings, and the media checks, without a server."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from include.roboflow_batch.results_table import schema
from include.roboflow_batch.webui.gallery import (
    FAILED,
    LEAST_CONFIDENT,
    MOST_CONFIDENT,
    SAMPLED,
    build_gallery,
    choose_sample,
    class_counts,
    confidence_histogram,
    run_seed,
)
from include.roboflow_batch.webui.media import MediaObject, MediaRefused, open_media
from include.roboflow_batch.webui.svg import overlay


def predictions_table(rows: list[dict]) -> pa.Table:
    names = schema.PREDICTIONS.names
    return pa.Table.from_pylist([{n: r.get(n) for n in names} for r in rows], schema=schema.PREDICTIONS)


def failures_table(rows: list[dict]) -> pa.Table:
    names = schema.FAILURES.names
    full = [{**{n: r.get(n) for n in names}, "window_end": datetime(2026, 3, 1, tzinfo=UTC)} for r in rows]
    return pa.Table.from_pylist(full, schema=schema.FAILURES)


def test_the_sample_shows_the_edges_and_is_the_same_on_every_reload() -> None:
    confidence = {f"k{i:02d}": i / 100 for i in range(60)} | {"empty": None}
    seed = run_seed("roboflow_cams", "scheduled__1")

    sample = choose_sample(confidence, ["broken-1", "broken-2"], seed, size=24)

    assert sample == choose_sample(confidence, ["broken-1", "broken-2"], seed, size=24)
    assert sample != choose_sample(confidence, ["broken-1", "broken-2"], run_seed("roboflow_cams", "x"), 24)
    by_why: dict[str, list[str]] = {}
    for key, why in sample:
        by_why.setdefault(why, []).append(key)
    assert by_why[MOST_CONFIDENT] == [f"k{i:02d}" for i in range(59, 53, -1)]
    assert by_why[LEAST_CONFIDENT] == [f"k{i:02d}" for i in range(6)]
    assert sorted(by_why[FAILED]) == ["broken-1", "broken-2"]
    assert len(sample) == 24 and len(by_why[SAMPLED]) == 10 and len({k for k, _ in sample}) == 24


def test_counts_and_histogram_cover_the_whole_window() -> None:
    rows = [
        {
            "source_key": "a",
            "class_name": "car",
            "confidence": 0.95,
            "x": 1.0,
            "y": 1.0,
            "width": 1.0,
            "height": 1.0,
        },
        {"source_key": "a", "class_name": "bus", "confidence": 0.31},
        {"source_key": "b", "class_name": "car", "confidence": 1.0},
        {"source_key": "c"},  # nothing found
    ]
    table = predictions_table(rows)

    assert class_counts(table) == [("car", 2), ("bus", 1)]
    assert confidence_histogram(table) == [0, 0, 0, 1, 0, 0, 0, 0, 0, 2]
    gallery = build_gallery(
        table, failures_table([{"source_key": "d", "stage": "ingest", "reason": "404"}]), 7
    )
    assert (gallery.objects, gallery.rows, gallery.failures) == (3, 4, 1)
    items = {item.source_key: item for item in gallery.items}
    assert len(items["a"].predictions) == 2 and items["c"].predictions == []
    assert items["d"].failure is not None and items["d"].failure["reason"] == "404"


def test_drawings_escape_what_the_model_or_the_source_named() -> None:
    hostile = "<script>alert(1)</script>"
    drawn = overlay(
        "/roboflow-ui/runs/d/r/media?key=a%3Cb",
        100,
        50,
        [{"class_name": hostile, "confidence": 0.5, "x": 10, "y": 10, "width": 4, "height": 4}],
        "thumb",
    )

    assert "<script>" not in drawn and "&lt;script&gt;" in drawn
    assert '<rect class="box" x="8" y="8" width="4" height="4"' in drawn


def png(path: Path, body: bytes | None = None) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(buffer, format="PNG")
    content = body if body is not None else buffer.getvalue()
    path.write_bytes(content)
    return content


def test_media_sends_an_allowed_image_and_never_more_than_its_stated_size(tmp_path: Path) -> None:
    content = png(tmp_path / "a.png")
    source = {"kind": "local", "directory": str(tmp_path)}

    found = open_media(source, "a.png", frozenset({"a.png"}), limit=10_000)

    assert (found.content_type, found.size) == ("image/png", len(content))
    assert b"".join(found.chunks()) == content
    grown = MediaObject("image/png", 3, io.BytesIO(b"\x89PNG more than announced"))
    assert b"".join(grown.chunks()) == b"\x89PN"


@pytest.mark.parametrize(
    ("name", "body", "key", "status"),
    [
        ("page.png", b"<html><script>alert(1)</script></html>", "page.png", 415),  # not what it says
        ("notes.txt", b"hello", "notes.txt", 415),  # not an image type
        ("a.png", None, "sub/../a.png", 400),  # not a plain key
        ("a.png", None, "unlisted.png", 404),
    ],
)
def test_media_refusals(tmp_path: Path, name: str, body: bytes | None, key: str, status: int) -> None:
    png(tmp_path / name, body)
    source = {"kind": "local", "directory": str(tmp_path)}

    with pytest.raises(MediaRefused) as refusal:
        open_media(source, key, frozenset({name, key} - {"unlisted.png"}), limit=10_000)

    assert refusal.value.status == status


def test_media_refuses_a_run_that_does_not_say_where_its_objects_are(tmp_path: Path) -> None:
    png(tmp_path / "a.png")

    with pytest.raises(MediaRefused) as refusal:
        open_media({}, "a.png", frozenset({"a.png"}), limit=10_000)

    assert refusal.value.status == 404


def test_a_video_shows_its_detections_frame_by_frame() -> None:
    from include.roboflow_batch.webui.svg import timeline

    rows = [
        {"source_key": "clip.mp4", "frame_number": 0, "class_name": "car", "confidence": 0.9, "x": 1.0},
        {"source_key": "clip.mp4", "frame_number": 0, "class_name": "car", "confidence": 0.8, "x": 2.0},
        {"source_key": "clip.mp4", "frame_number": 5, "class_name": "bus", "confidence": 0.7, "x": 3.0},
        {"source_key": "clip.mp4", "frame_number": 10},  # a frame where nothing was found
    ]
    gallery = build_gallery(predictions_table(rows), failures_table([]), 1)

    [item] = gallery.items
    assert item.is_video and item.last_frame() == 10
    assert item.frames_by_class() == {"car": [(0, 2), (5, 0), (10, 0)], "bus": [(0, 0), (5, 1), (10, 0)]}
    drawn = timeline(item.frames_by_class(), item.last_frame())
    assert drawn.count('class="frames"') == 2 and 'data-class="bus"' in drawn


def test_cards_link_to_their_page_except_objects_never_sent() -> None:
    from types import SimpleNamespace

    from include.roboflow_batch.webui.gallery_page import gallery_section

    rows = [{"source_key": "cams/a<b>.png", "class_name": "car", "confidence": 0.9, "x": 5.0, "y": 5.0,
             "width": 2.0, "height": 2.0, "image_width": 10, "image_height": 10}]  # fmt: skip
    failures = [
        {"source_key": "cams/empty.png", "stage": "listing", "reason_type": "empty-file"},
        {"source_key": "cams/broken.png", "stage": "processing", "reason": "cannot decode"},
    ]
    gallery = build_gallery(predictions_table(rows), failures_table(failures), 3)
    run = SimpleNamespace(dag_id="roboflow_cams", run_id="manual__1")

    html = gallery_section("/roboflow-ui", run, gallery)  # type: ignore[arg-type]

    assert "a<b>" not in html and "cams/a&lt;b&gt;.png" in html
    assert html.count('class="item-link"') == 2  # the drawn image and the failed one, not the empty one
    assert "media?key=cams%2Fa%3Cb%3E.png" in html
    assert "empty-file" in html and "cannot decode" in html
