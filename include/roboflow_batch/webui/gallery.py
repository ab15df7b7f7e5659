"""What the gallery of a run shows, from the window's results table (the run's own result rows).

A sample of the window's objects (``GALLERY_SIZE`` by default) that shows the edges, not only the
good cases: the most and the least confident, failed objects with their reasons, and a random rest.
The sample is drawn with a seed made from the run, so a reload shows the same images. Class counts
and the confidence histogram cover the whole window. Aggregates run in Arrow, so a window of a
hundred thousand rows costs the page a few tens of milliseconds.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from include.roboflow_batch.results_table import schema

GALLERY_SIZE = 24
MAX_GALLERY_SIZE = 96
HISTOGRAM_BINS = 10
#: A window file larger than this is not read by the view (its numbers stay in the table).
MAX_TABLE_FILE_BYTES = 512 * 1024 * 1024
# What the gallery reads of the predictions table: all but the window's and the chunk's columns.
PREDICTION_COLUMNS = [
    name
    for name in schema.PREDICTIONS.names
    if name not in ("window_start", "window_end", "frame_timestamp", "batch_id", "job_id")
]

MOST_CONFIDENT = "most confident"
LEAST_CONFIDENT = "least confident"
FAILED = "failed"
SAMPLED = "sample"


@dataclass
class GalleryItem:
    """One object of the window with its records (several frames for a video)."""

    source_key: str
    reason: str
    source_name: str | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    top_confidence: float | None = None
    failure: dict[str, Any] | None = None

    @property
    def is_video(self) -> bool:
        return any(r.get("frame_number") is not None for r in self.records)

    @property
    def size(self) -> tuple[int, int] | None:
        for record in self.records:
            if record.get("image_width") and record.get("image_height"):
                return int(record["image_width"]), int(record["image_height"])
        return None

    @property
    def predictions(self) -> list[dict[str, Any]]:
        """The records that found something (a class or a box)."""
        return [r for r in self.records if r.get("class_name") is not None or r.get("x") is not None]

    def frames_by_class(self) -> dict[str, list[tuple[int, int]]]:
        counts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        frames = {int(r["frame_number"]) for r in self.records if r.get("frame_number") is not None}
        for record in self.predictions:
            if record.get("frame_number") is not None:
                counts[str(record.get("class_name") or "?")][int(record["frame_number"])] += 1
        return {name: [(f, by_frame.get(f, 0)) for f in sorted(frames)] for name, by_frame in counts.items()}

    def last_frame(self) -> int:
        frames = [int(r["frame_number"]) for r in self.records if r.get("frame_number") is not None]
        return max(frames, default=0)


@dataclass
class Gallery:
    items: list[GalleryItem]
    class_counts: list[tuple[str, int]]
    histogram: list[int]
    objects: int
    rows: int
    failures: int


def run_seed(dag_id: str, run_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{dag_id}\0{run_id}".encode()).digest()[:8], "big")


def class_counts(predictions: pa.Table) -> list[tuple[str, int]]:
    named = predictions.filter(pc.is_valid(predictions["class_name"]))
    counted = named.group_by("class_name").aggregate([("class_name", "count")])
    pairs = zip(counted["class_name"].to_pylist(), counted["class_name_count"].to_pylist(), strict=True)
    return sorted(((str(n), int(c)) for n, c in pairs), key=lambda item: (-item[1], item[0]))


def confidence_histogram(predictions: pa.Table, bins: int = HISTOGRAM_BINS) -> list[int]:
    scores = pc.drop_null(predictions["confidence"])
    counts = [0] * bins
    if len(scores) == 0:
        return counts
    index = pc.min_element_wise(pc.floor(pc.multiply(pc.max_element_wise(scores, 0.0), bins)), bins - 1)
    for value, count in zip(*_value_counts(index.cast(pa.int64())), strict=True):
        counts[int(value)] += int(count)
    return counts


def _value_counts(array: Any) -> tuple[list[Any], list[int]]:
    counted = pc.value_counts(array)
    return counted.field("values").to_pylist(), counted.field("counts").to_pylist()


def _object_confidence(predictions: pa.Table) -> dict[str, float | None]:
    """Each object's best confidence (None: nothing scored, e.g. an image without a prediction)."""
    keyed = predictions.filter(pc.is_valid(predictions["source_key"]))
    best = keyed.group_by("source_key").aggregate([("confidence", "max")])
    pairs = zip(best["source_key"].to_pylist(), best["confidence_max"].to_pylist(), strict=True)
    return {str(key): (None if score is None else float(score)) for key, score in pairs}


def choose_sample(
    confidence: Mapping[str, float | None], failed: Sequence[str], seed: int, size: int = GALLERY_SIZE
) -> list[tuple[str, str]]:
    """``(source key, why)`` of the sample: a quarter most confident, a quarter least confident, up to
    a sixth failed objects, the rest drawn at random (the same draw for the same ``seed``)."""
    rng = random.Random(seed)
    scored = sorted(
        ((s, k) for k, s in confidence.items() if s is not None), key=lambda item: (-item[0], item[1])
    )
    chosen: dict[str, str] = {}

    def take(keys: Sequence[str], why: str, limit: int) -> None:
        for key in keys:
            if len(chosen) >= size or limit <= 0:
                return
            if key not in chosen:
                chosen[key] = why
                limit -= 1

    take([k for _, k in scored], MOST_CONFIDENT, size // 4)
    take([k for _, k in reversed(scored)], LEAST_CONFIDENT, size // 4)
    failures = sorted(set(failed))
    rng.shuffle(failures)
    take(failures, FAILED, max(size // 6, 1))
    rest = sorted(set(confidence) - set(chosen))
    rng.shuffle(rest)
    take(rest, SAMPLED, size)
    return list(chosen.items())


def build_gallery(predictions: pa.Table, failures: pa.Table, seed: int, size: int = GALLERY_SIZE) -> Gallery:
    """The gallery of one window from its two tables."""
    confidence = _object_confidence(predictions)
    failed_rows = [row for row in failures.to_pylist() if row.get("source_key")]
    failed_by_key = {row["source_key"]: row for row in failed_rows}
    sample = choose_sample(confidence, list(failed_by_key), seed, size)
    keys = [key for key, _ in sample]
    picked = predictions.filter(pc.is_in(predictions["source_key"], pa.array(keys, pa.string())))
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in picked.select([c for c in PREDICTION_COLUMNS if c in picked.column_names]).to_pylist():
        records[record["source_key"]].append(record)
    items = []
    for key, why in sample:
        rows = records.get(key, [])
        items.append(
            GalleryItem(
                source_key=key,
                reason=why,
                source_name=next((r["source_name"] for r in rows if r.get("source_name")), None)
                or (failed_by_key.get(key) or {}).get("source_name"),
                records=rows,
                top_confidence=confidence.get(key),
                failure=failed_by_key.get(key),
            )
        )
    return Gallery(
        items=items,
        class_counts=class_counts(predictions),
        histogram=confidence_histogram(predictions),
        objects=len(confidence),
        rows=predictions.num_rows,
        failures=len(failed_rows),
    )


def read_window_tables(table: Mapping[str, Any]) -> tuple[pa.Table, pa.Table]:
    """The run's predictions and failures (from reconcile's ``table`` summary, never from a request)."""
    from airflow.sdk import ObjectStoragePath

    from include.roboflow_batch.results_table.reading import read_window_file

    conn_id = table.get("conn_id")
    size = ObjectStoragePath(table["predictions_uri"], conn_id=conn_id).stat().st_size
    if size > MAX_TABLE_FILE_BYTES:
        raise ValueError(f"the window's table file holds {size:,} bytes, more than the view reads")
    predictions = read_window_file(table["predictions_uri"], conn_id, PREDICTION_COLUMNS)
    failures = read_window_file(table["failures_uri"], conn_id)
    return predictions, failures


MAX_RESULT_FILE_BYTES = 64 * 1024 * 1024


def read_raw_rows(records: Sequence[Mapping[str, Any]], conn_id: str | None) -> list[dict[str, Any]]:
    """The raw result rows ``records`` were read from (their ``result_file`` and ``result_line``: URIs
    the run's own table names), in file and row order; a file over ``MAX_RESULT_FILE_BYTES`` is skipped."""
    import csv
    import json

    from airflow.sdk import ObjectStoragePath

    wanted: dict[str, set[int]] = defaultdict(set)
    for record in records:
        if record.get("result_file") and record.get("result_line"):
            wanted[str(record["result_file"])].add(int(record["result_line"]))
    rows: list[dict[str, Any]] = []
    for uri, lines in sorted(wanted.items()):
        path = ObjectStoragePath(uri, conn_id=conn_id)
        if path.stat().st_size > MAX_RESULT_FILE_BYTES:
            continue
        with path.open("r", encoding="utf-8", newline="") as handle:
            if uri.lower().endswith(".csv"):
                found = (row for n, row in enumerate(csv.DictReader(handle), start=1) if n in lines)
                rows.extend(dict(row) for row in found)
            else:
                rows.extend(json.loads(line) for n, line in enumerate(handle, start=1) if n in lines)
    return rows


def item_records(predictions: pa.Table, key: str) -> list[dict[str, Any]]:
    """Every record of one object (the detail page)."""
    rows = predictions.filter(pc.equal(predictions["source_key"], key))
    return list(rows.to_pylist())
