"""Peak memory and client-side speed of reference generation for COUNT objects, in a fresh process.

ListObjectsV2 responses are stubbed at the boto level: a ``before-send`` handler answers each
page request with S3's XML, made on the fly (never all pages at once), so 100k objects need no
seeding and no server. botocore still parses every page; signing (SigV4) and writing the JSONL
file are real.

    python -m bench.references_memory --count N   ->   one JSON line on stdout
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from bench.seeded_moto import object_key
from include.roboflow_batch.references.s3 import use_fast_timestamps

PAGE_SIZE = 1000


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


class ListingStub:
    """Answers ListObjectsV2 for ``count`` objects under bench/ with S3-shaped XML pages."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        query = parse_qs(urlsplit(request.url).query)
        start = int(query.get("continuation-token", ["0"])[0])
        stop = min(start + int(query.get("max-keys", [str(PAGE_SIZE)])[0]), self.count)
        contents = "".join(
            f"<Contents><Key>{object_key('bench/', i)}</Key><LastModified>2026-03-01T04:00:00.000Z"
            f"</LastModified><ETag>&quot;{i:032x}&quot;</ETag><Size>{1024 + i % 4096}</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
            for i in range(start, stop)
        )
        truncated = stop < self.count
        token = f"<NextContinuationToken>{stop}</NextContinuationToken>" if truncated else ""
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Name>bench-media</Name><Prefix>bench/</Prefix><KeyCount>{stop - start}</KeyCount>"
            f"<MaxKeys>{PAGE_SIZE}</MaxKeys><IsTruncated>{str(truncated).lower()}</IsTruncated>"
            f"{token}{contents}</ListBucketResult>"
        ).encode()
        return AWSResponse(request.url, 200, {"content-type": "application/xml"}, _Body(body))


def measure(count: int) -> dict[str, Any]:
    from airflow.sdk import ObjectStoragePath

    from include.roboflow_batch.references.expiry import effective_expiry, parse_expiry
    from include.roboflow_batch.references.generate import write_references
    from include.roboflow_batch.references.s3 import iter_s3_objects
    from include.roboflow_batch.references.sigv4 import S3GetUrlSigner
    from include.roboflow_batch.references.window import SelectionWindow

    session = boto3.Session()
    use_fast_timestamps(session)
    client = session.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench-secret",
        config=Config(signature_version="s3v4"),
    )
    workdir = Path(tempfile.mkdtemp(prefix="bench-refs-memory-"))
    expiry = effective_expiry(parse_expiry(86400), None, shorten_to_credentials=False)

    stub = ListingStub(0)
    client.meta.events.register("before-send.s3.ListObjectsV2", stub)

    def generate(n: int, name: str) -> int:
        stub.count = n
        signer = S3GetUrlSigner(client, "bench-media", expiry.seconds, "bench-secret", probe_prefix="bench/")
        summary = write_references(
            iter_s3_objects(client, "bench-media", "bench/"),
            signer,
            ObjectStoragePath(f"file://{workdir}/{name}.jsonl"),
            source="s3://bench-media/bench/",
            media_type="images",
            window=SelectionWindow(),
            expiry=expiry,
        )
        return summary.count

    generate(10, "warm-up")  # imports, fsspec, endpoint rules: not part of the measure
    started = time.perf_counter()
    generate(count, "untraced")
    untraced_seconds = time.perf_counter() - started
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    written = generate(count, "references")
    seconds = time.perf_counter() - started
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    size = (workdir / "references.jsonl").stat().st_size
    return {
        "count": written,
        "seconds": untraced_seconds,
        "traced_seconds": seconds,
        "traced_peak_bytes": traced_peak,
        "peak_rss_kib": rss_after,
        "rss_growth_kib": rss_after - rss_before,
        "file_bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, required=True)
    print(json.dumps(measure(parser.parse_args().count)))


if __name__ == "__main__":
    main()
