"""One window of COUNT objects through the pipeline's client side, in a fresh process.

Steps, each timed: ``plan`` (the plan task and chunk planning), ``listing + references`` (an S3
listing whose ListObjectsV2 pages are stubbed at the boto level, as in bench.references_memory:
botocore parses every page, SigV4 signing and writing the chunked references files are real; each
object is looked up in the processed-content record, which holds as many digests from earlier
windows as the window has objects, none of them this window's), ``chunked ingest`` (one
RoboflowIngestOperator per chunk, sent to the emulator at EMULATOR_URL, as the mapped ``ingest``
tasks would; run one after another in this process, so the peak is what one worker needs) and
``record`` (the window's content added to the record, as reconcile does). Then it waits until the
emulator has indexed every reference.

The signed URLs point at a stubbed store the emulator does not trust, so it records every file as
``unsafe-url-detected`` without fetching: this measures our side (plan, listing, references,
ingest requests), not the service's downloads.

    python -m bench.million_window --count N --per-batch M --emulator URL  ->  one JSON line on stdout
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.processed_content import seed_in_child
from bench.references_memory import ListingStub
from include.roboflow_batch.references.s3 import use_fast_timestamps

WINDOW_END = datetime(2026, 3, 1, 5, tzinfo=UTC)
INDEXING_TIMEOUT_S = 900


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _emulator_state(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/__emulator__/state", timeout=60) as response:
        return json.loads(response.read())


class CountingListingStub(ListingStub):
    """ListingStub that counts the ListObjectsV2 pages it answered (the store's API calls)."""

    calls = 0

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return super().__call__(request, **kwargs)


def _s3_client(stub: CountingListingStub) -> Any:
    session = boto3.Session()
    use_fast_timestamps(session)
    client = session.client(
        "s3",
        # Never contacted (the stub answers); a host the emulator does not trust.
        endpoint_url="http://store.bench.invalid",
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench-secret",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    client.meta.events.register("before-send.s3.ListObjectsV2", stub)
    return client


def _plan() -> dict[str, Any]:
    from include.roboflow_batch.pipeline.plan_task import PlanSpec, plan_run

    spec = PlanSpec(
        pipeline_id="fleet",
        dag_id="roboflow_fleet",
        workflow_id="bright-spot-detector",
        base_dir="/tmp",
        references_uri="refs/{interval_start:%Y%m%dT%H%M}.jsonl",
        destination="out/{interval_start:%Y%m%dT%H%M}/",
    )
    return plan_run(
        spec, data_interval_start=WINDOW_END - timedelta(hours=1), data_interval_end=WINDOW_END, params={}
    )


def _load_record(root: Path) -> Any:
    from airflow.sdk import ObjectStoragePath

    from include.roboflow_batch.content.record import ContentRecord, WindowRef

    window = WindowRef((WINDOW_END - timedelta(hours=1)).isoformat(), WINDOW_END.isoformat())
    return ContentRecord(ObjectStoragePath(root.as_uri())).load(window)


def _record_window(root: Path, listing: dict[str, Any]) -> int:
    """What reconcile adds: the content list read back, the window's segment written."""
    from airflow.sdk import ObjectStoragePath

    from include.roboflow_batch.content.record import ContentRecord, WindowRef
    from include.roboflow_batch.content.window_content import read_sent_content

    digests = read_sent_content(listing["content_uri"], None, set())
    window = WindowRef((WINDOW_END - timedelta(hours=1)).isoformat(), WINDOW_END.isoformat())
    ContentRecord(ObjectStoragePath(root.as_uri())).add_window(window, digests)
    return len(digests)


def _references(client: Any, workdir: Path, per_batch: int, record: Any = None) -> dict[str, Any]:
    from airflow.sdk import ObjectStoragePath

    from include.roboflow_batch.operators.references import max_map_length
    from include.roboflow_batch.references.chunked import write_chunked_references
    from include.roboflow_batch.references.expiry import effective_expiry, parse_expiry
    from include.roboflow_batch.references.s3 import iter_s3_objects
    from include.roboflow_batch.references.sigv4 import S3GetUrlSigner
    from include.roboflow_batch.references.window import SelectionWindow

    expiry = effective_expiry(parse_expiry(86400), None, shorten_to_credentials=False)
    signer = S3GetUrlSigner(client, "bench-media", expiry.seconds, "bench-secret", probe_prefix="bench/")
    summary = write_chunked_references(
        iter_s3_objects(client, "bench-media", "bench/"),
        signer,
        ObjectStoragePath(f"file://{workdir}/refs/window.jsonl"),
        max_objects_per_file=per_batch,
        max_files=max_map_length(),
        source="s3://bench-media/bench/",
        media_type="images",
        window=SelectionWindow(),
        expiry=expiry,
        record=record,
    )
    return summary.to_dict()


def _ingest(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from include.roboflow_batch.operators.ingest import RoboflowIngestOperator

    results = []
    for spec in specs:
        operator = RoboflowIngestOperator(
            task_id="ingest", batch_id=spec["batch_id"], references=spec["references"], media_type="images"
        )
        results.append(operator.execute({}))
    return results


def _wait_until_indexed(url: str, batch_ids: list[str], expected: int) -> tuple[float, int, int]:
    """Seconds until the emulator finished every shard, and its staged and failed totals."""
    started = time.perf_counter()
    while True:
        batches = _emulator_state(url)["batches"]
        ours = [batches[b] for b in batch_ids if b in batches]
        done = len(ours) == len(batch_ids) and not any(b["shardsIndexing"] for b in ours)
        staged = sum(b["fileCount"] for b in ours)
        failed = sum(b["failedFiles"] for b in ours)
        if done and staged + failed >= expected:
            return time.perf_counter() - started, staged, failed
        if time.perf_counter() - started > INDEXING_TIMEOUT_S:
            raise TimeoutError(
                f"the emulator indexed {staged + failed} of {expected} in {INDEXING_TIMEOUT_S} s"
            )
        time.sleep(1)


def measure(count: int, per_batch: int, emulator_url: str) -> dict[str, Any]:
    from include.roboflow_batch.pipeline.chunks import plan_chunks

    workdir = Path(tempfile.mkdtemp(prefix="bench-million-"))
    stub = CountingListingStub(10)
    client = _s3_client(stub)
    # Warm-up (imports, fsspec, endpoint rules): not part of the measure.
    _plan()
    _references(client, Path(tempfile.mkdtemp(prefix="bench-million-warm-up-")), per_batch)
    record_root = workdir / "processed-content"
    # As many digests as the window has objects, from 65 earlier windows, none of them this window's.
    seed_in_child(record_root, count, windows=65, offset=10 * count)
    stub.count, stub.calls = count, 0
    rss_start = _rss_mib()
    timings: dict[str, float] = {}

    cpu_started = _cpu_seconds()
    started = time.perf_counter()
    plan = _plan()
    timings["plan"] = time.perf_counter() - started

    started = time.perf_counter()
    listing = _references(client, workdir, per_batch, _load_record(record_root))
    specs = plan_chunks(plan, listing)
    timings["listing_references"] = time.perf_counter() - started
    rss_after_references = _rss_mib()

    before = _emulator_state(emulator_url)["requests"]
    started = time.perf_counter()
    ingests = _ingest([dict(spec) for spec in specs])
    timings["ingest"] = time.perf_counter() - started

    started = time.perf_counter()
    recorded = _record_window(record_root, listing)
    timings["record"] = time.perf_counter() - started
    cpu_seconds = _cpu_seconds() - cpu_started
    after = _emulator_state(emulator_url)["requests"]
    calls = {route: n - before.get(route, 0) for route, n in after.items() if n != before.get(route, 0)}
    indexing_s, staged, failed = _wait_until_indexed(emulator_url, [s["batch_id"] for s in specs], count)
    return {
        "count": listing["count"],
        "chunks": len(specs),
        "per_batch": per_batch,
        "expected": sum(result["expected_count"] for result in ingests),
        "ingest_requests": sum(len(result["ingest_ids"]) for result in ingests),
        "timings": timings,
        "wall_seconds": sum(timings.values()),
        "cpu_seconds": cpu_seconds,
        "indexing_wait_seconds": indexing_s,
        "staged": staged,
        "failed": failed,
        "store_list_calls": stub.calls,
        "recorded": recorded,
        "record_bytes": sum(p.stat().st_size for p in (record_root / "segments").iterdir()),
        "roboflow_api_calls": sum(calls.values()),
        "roboflow_calls_by_route": calls,
        "rss_start_mib": rss_start,
        "rss_after_references_mib": rss_after_references,
        "peak_rss_mib": _rss_mib(),
        "references_bytes": sum(
            path.stat().st_size
            for path in (workdir / "refs").iterdir()
            if not path.name.endswith(".content.jsonl")
        ),
        "content_list_bytes": sum(path.stat().st_size for path in (workdir / "refs").glob("*.content.jsonl")),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--per-batch", type=int, required=True)
    parser.add_argument("--emulator", required=True, help="base URL of a running emulator")
    args = parser.parse_args()
    print(json.dumps(measure(args.count, args.per_batch, args.emulator)))


if __name__ == "__main__":
    main()
