"""The processed-content record against one window of WINDOW objects, in a fresh process.

The record holds RECORD digests from WINDOWS earlier windows (by default 65: one compaction of 33
windows and 32 window segments beside it, the most a record holds uncompacted, so recording this
window compacts everything again: the worst case); it is written by a child process. The window's
objects come from a generator (no store, no signing: the record's own cost is measured); every
tenth has the content of an earlier window's object (a rewrite), the rest is new. Steps, each
timed: ``load`` (read every segment), ``filter`` (digest, look up, write the content list of the
objects sent: what the listing adds), ``record`` (read the content list back and write the
window's segment, then the compaction: what reconcile adds), and the same window without the
record (``baseline``: the listing's selection alone).

    python -m bench.processed_content --window N --record R [--windows W]  ->  one JSON line on stdout
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
REWRITE_EVERY = 10
EARLIER_START = datetime(2026, 2, 1, tzinfo=UTC)
AT = datetime(2026, 3, 1, 4, 30, tzinfo=UTC)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _etag(index: int) -> str:
    return f"s3-etag:{index:032x}"


def _objects(window: int, record: int) -> Iterator[Any]:
    """The window's objects: every REWRITE_EVERY-th one carries an earlier object's content."""
    from include.roboflow_batch.references.objects import StoredObject

    for i in range(window):
        content = _etag(i % record) if i % REWRITE_EVERY == 0 else _etag(record + i)
        size = 1024 + (i % record if i % REWRITE_EVERY == 0 else record + i) % 4096
        yield StoredObject(f"bench/cam-{i % 10}/frame-{i:07d}.jpg", size, AT, content)


def seed_record(root: Path, record: int, windows: int, offset: int = 0) -> None:
    """RECORD digests of earlier objects (``_etag(offset + i)``) from WINDOWS hourly windows, each
    added as the pipeline adds them (compactions included); not timed."""
    from airflow.sdk import ObjectStoragePath

    from include.roboflow_batch.content.identity import as_digests, content_digest
    from include.roboflow_batch.content.record import ContentRecord, WindowRef

    store = ContentRecord(ObjectStoragePath(root.as_uri()))
    per = -(-record // windows)
    for part in range(windows):
        start = EARLIER_START + timedelta(hours=part)
        window = WindowRef(start.isoformat(), (start + timedelta(hours=1)).isoformat())
        indexes = range(offset + part * per, offset + min(record, (part + 1) * per))
        store.add_window(window, as_digests([content_digest(_etag(i), 1024 + i % 4096) for i in indexes]))


def seed_in_child(root: Path, record: int, windows: int, offset: int = 0) -> None:
    """:func:`seed_record` in a child process, so that the measuring process's peak memory is its own."""
    context = multiprocessing.get_context("spawn")
    child = context.Process(target=seed_record, args=(root, record, windows, offset))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"seeding the record failed (exit code {child.exitcode})")


def _select(window: int, record: int, workdir: Path, name: str, index: Any) -> tuple[int, int]:
    """Run the listing's selection over the window; (objects sent, objects left out)."""
    from airflow.sdk import ObjectStoragePath

    from include.roboflow_batch.references.expiry import effective_expiry, parse_expiry
    from include.roboflow_batch.references.generate import ReferencesSummary, content_filter, select_objects
    from include.roboflow_batch.references.window import SelectionWindow

    expiry = effective_expiry(parse_expiry(3600), None, shorten_to_credentials=False)
    summary = ReferencesSummary(source="s3://bench-media/bench/", media_type="images", expiry=expiry)
    destination = ObjectStoragePath((workdir / f"{name}.jsonl").as_uri())
    sent = 0
    with content_filter(index, destination, summary) as content:
        for _ in select_objects(
            _objects(window, record),
            media_type="images",
            window=SelectionWindow(),
            summary=summary,
            content=content,
        ):
            sent += 1
    return sent, summary.skipped_count


def measure(window: int, record: int, windows: int) -> dict[str, Any]:
    from airflow.sdk import ObjectStoragePath

    from include.roboflow_batch.content.record import ContentRecord, WindowRef
    from include.roboflow_batch.content.window_content import read_sent_content

    workdir = Path(tempfile.mkdtemp(prefix="bench-processed-content-"))
    root = workdir / "record"
    seed_in_child(root, record, windows)
    segments_before = len(list((root / "segments").glob("*.npz")))
    # Warm-up (imports, fsspec): not part of the measure.
    _select(10, record, workdir, "warm-up", None)
    rss_start = _rss_mib()
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def timed(step: str, work: Callable[[], T]) -> T:
        wall, cpu_started = time.perf_counter(), time.process_time()
        value = work()
        timings[step], cpu[step] = time.perf_counter() - wall, time.process_time() - cpu_started
        return value

    timed("baseline", lambda: _select(window, record, workdir, "baseline", None))
    rss_baseline = _rss_mib()

    current = WindowRef(AT.replace(minute=0).isoformat(), AT.replace(hour=5, minute=0).isoformat())
    store = ContentRecord(ObjectStoragePath(root.as_uri()))
    index = timed("load", lambda: store.load(current))
    rss_loaded = _rss_mib()
    sent, left_out = timed("filter", functools.partial(_select, window, record, workdir, "window", index))
    del index  # gone before the window is recorded, as in the reconcile task

    def record_window() -> None:
        digests = read_sent_content((workdir / "window.content.jsonl").as_uri(), None, set())
        store.add_window(current, digests)

    timed("record", record_window)
    segment_bytes = sum(p.stat().st_size for p in (root / "segments").iterdir())
    return {
        "window": window,
        "record": record,
        "windows": windows,
        "segments_before": segments_before,
        "segments_after": len(list((root / "segments").glob("*.npz"))),
        "sent": sent,
        "left_out": left_out,
        "timings": timings,
        "cpu": cpu,
        "with_record_seconds": timings["load"] + timings["filter"] + timings["record"],
        "with_record_cpu_seconds": cpu["load"] + cpu["filter"] + cpu["record"],
        "rss_start_mib": rss_start,
        "rss_after_baseline_mib": rss_baseline,
        "rss_after_load_mib": rss_loaded,
        "peak_rss_mib": _rss_mib(),
        "record_bytes": segment_bytes,
        "content_list_bytes": (workdir / "window.content.jsonl").stat().st_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--window", type=int, required=True)
    parser.add_argument("--record", type=int, required=True)
    parser.add_argument("--windows", type=int, default=65)
    args = parser.parse_args()
    print(json.dumps(measure(args.window, args.record, args.windows)))


if __name__ == "__main__":
    main()
