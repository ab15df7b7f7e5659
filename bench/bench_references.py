"""Signed-URL reference generation: throughput on moto (S3) and the GCS emulator, the docs'
shell baseline (`aws s3 presign` per object, `xargs -P 20`) on the same objects, and peak memory
for 10k vs 100k objects.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import result
from include.devstack.services import REPO_ROOT, free_port, start_gcs_emulator, start_process

S3_OBJECTS = int(os.environ.get("BENCH_S3_OBJECTS", "10000"))
BASELINE_OBJECTS = int(os.environ.get("BENCH_BASELINE_OBJECTS", "200"))
GCS_OBJECTS = int(os.environ.get("BENCH_GCS_OBJECTS", "2000"))
MEMORY_COUNTS = (10_000, 100_000)
REPEATS = 3
BUCKET = "bench-media"
AWS_CONN_ID = "aws_bench"
GCS_CONN_ID, GCS_SIGNER_CONN_ID = "gcs_bench", "gcs_bench_signer"
BENCH_VENV_BIN = REPO_ROOT / ".venv-bench" / "bin"


@contextmanager
def environment(**values: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def median_seconds(action: Callable[[], Any], repeats: int = REPEATS) -> tuple[float, Any]:
    timings, outcome = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        outcome = action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), outcome


# --- S3 ---------------------------------------------------------------------------------------


def _s3_operator(prefix: str, workdir: Path) -> Any:
    from include.roboflow_batch.operators.references import S3ReferencesOperator

    return S3ReferencesOperator(
        task_id="bench",
        bucket=BUCKET,
        prefix=prefix,
        destination=f"file://{workdir}/{prefix.strip('/')}.jsonl",
        aws_conn_id=AWS_CONN_ID,
        select="all",
    )


def _aws_cli_baseline(url: str, workdir: Path) -> tuple[float, int] | None:
    aws = BENCH_VENV_BIN / "aws"
    if not aws.exists():
        print("   .venv-bench/bin/aws is missing (run `make bench`): no shell baseline", flush=True)
        return None
    config = workdir / "aws-config"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n    signature_version = s3v4\n")
    env = {
        **os.environ,
        "PATH": f"{BENCH_VENV_BIN}:{os.environ['PATH']}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench-secret",
        "AWS_ENDPOINT_URL": url,
        "AWS_CONFIG_FILE": str(config),
    }
    output = workdir / "baseline.jsonl"
    script = Path(__file__).parent / "baselines" / "generate_s3_signed_urls.sh"
    started = time.perf_counter()
    subprocess.run(
        ["bash", str(script), f"s3://{BUCKET}/baseline", str(output), "86400", "20"], env=env, check=True
    )
    seconds = time.perf_counter() - started
    lines = output.read_text().splitlines()
    assert all("X-Amz-Signature=" in json.loads(line)["url"] for line in lines), "baseline made unsigned URLs"
    return seconds, len(lines)


def s3_rows(workdir: Path) -> list[dict[str, Any]]:
    port = free_port()
    argv = [sys.executable, "-m", "bench.seeded_moto", "--port", str(port), "--bucket", BUCKET]
    argv += ["--objects", f"bench/:{S3_OBJECTS}", "--objects", f"baseline/:{BASELINE_OBJECTS}"]
    service = start_process("seeded-moto", argv, port, health_path="/moto-api/", timeout=600)
    connection = {
        "conn_type": "aws",
        "login": "bench",
        "password": "bench-secret",
        "extra": {"endpoint_url": service.url, "region_name": "us-east-1"},
    }
    rows = []
    try:
        with environment(**{f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}": json.dumps(connection)}):
            _s3_operator("baseline/", workdir).execute({})  # warm-up: imports, fsspec, endpoint rules
            seconds, summary = median_seconds(lambda: _s3_operator("bench/", workdir).execute({}))
            rate = summary["count"] / seconds
            small_seconds, small = median_seconds(lambda: _s3_operator("baseline/", workdir).execute({}))
            small_rate = small["count"] / small_seconds
            listing_rate, signing = _s3_parts()
            baseline = _aws_cli_baseline(service.url, workdir)
    finally:
        service.stop()

    baseline_rate = baseline[1] / baseline[0] if baseline else None
    shell = f"aws s3 presign | xargs -P 20, {BASELINE_OBJECTS} objects"
    rows.append(
        result(
            "s3_references",
            f"signed URLs/s end to end (list+sign+write), {summary['count']:,} objects on moto server",
            rate,
            "URL/s",
            baseline=baseline_rate,
            baseline_name=shell,
            target=">= 5,000 URL/s",
            met=rate >= 5000,
            detail=f"median of {REPEATS} runs of S3ReferencesOperator.execute: {seconds:.2f} s; "
            f"listing alone on the same server: {listing_rate:,.0f} objects/s",
        )
    )
    rows.append(
        result(
            "s3_references",
            f"signed URLs/s end to end, the same {small['count']} objects as the shell baseline",
            small_rate,
            "URL/s",
            baseline=baseline_rate,
            baseline_name=shell,
            detail=f"operator {small_seconds:.2f} s (connection set-up included)"
            + (f"; shell {baseline[0]:.1f} s for {baseline[1]} URLs" if baseline else ""),
        )
    )
    rows.append(
        result(
            "s3_references",
            "moto server listing alone (ListObjectsV2, 1000/page): the ceiling of the end-to-end rate",
            listing_rate,
            "objects/s",
            detail="moto filters and sorts the whole bucket for every page, so a page costs O(bucket size)",
        )
    )
    rows.append(
        result(
            "s3_references",
            "SigV4 signing alone: template signer vs botocore generate_presigned_url",
            signing[0],
            "URL/s",
            baseline=signing[1],
            baseline_name="botocore generate_presigned_url",
            detail="5,000 keys, in-process, no I/O",
        )
    )
    return rows


def _s3_parts() -> tuple[float, tuple[float, float]]:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from include.roboflow_batch.references.s3 import iter_s3_objects, s3_session_and_client
    from include.roboflow_batch.references.sigv4 import S3GetUrlSigner

    _, client = s3_session_and_client(S3Hook(aws_conn_id=AWS_CONN_ID), disable_flexible_checksums=False)
    seconds, listed = median_seconds(lambda: sum(1 for _ in iter_s3_objects(client, BUCKET, "bench/")), 1)
    keys = [f"bench/cam-{i % 10}/frame-{i:07d}.jpg" for i in range(5000)]
    signer = S3GetUrlSigner(client, BUCKET, 86400, "bench-secret")
    assert signer.fast
    fast_seconds, _ = median_seconds(lambda: [signer(k) for k in keys])
    slow_seconds, _ = median_seconds(
        lambda: [
            client.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": k}, ExpiresIn=86400)
            for k in keys
        ]
    )
    return listed / seconds, (len(keys) / fast_seconds, len(keys) / slow_seconds)


# --- GCS --------------------------------------------------------------------------------------


def gcs_rows(workdir: Path) -> list[dict[str, Any]]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from include.devstack.connections import gcp_connection, new_service_account
    from include.roboflow_batch.operators.references import GCSReferencesOperator

    service = start_gcs_emulator()
    info, _ = new_service_account("bench-project")
    env = {
        "STORAGE_EMULATOR_HOST": service.url,
        f"AIRFLOW_CONN_{GCS_CONN_ID.upper()}": gcp_connection(
            {"is_anonymous": True, "project": "bench-project"}
        ),
        f"AIRFLOW_CONN_{GCS_SIGNER_CONN_ID.upper()}": gcp_connection(
            {"keyfile_dict": json.dumps(info), "project": "bench-project"}
        ),
    }
    try:
        with environment(**env):
            client = storage.Client(project="bench-project", credentials=AnonymousCredentials())
            bucket = client.create_bucket(BUCKET)
            started = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                list(
                    pool.map(
                        lambda i: bucket.blob(f"bench/cam-{i % 10}/frame-{i:07d}.jpg").upload_from_string(
                            b"\xff"
                        ),
                        range(GCS_OBJECTS),
                    )
                )
            seed_rate = GCS_OBJECTS / (time.perf_counter() - started)

            def references() -> dict[str, Any]:
                return GCSReferencesOperator(
                    task_id="bench",
                    bucket=BUCKET,
                    prefix="bench/",
                    destination=f"file://{workdir}/gcs.jsonl",
                    gcp_conn_id=GCS_CONN_ID,
                    signing_conn_id=GCS_SIGNER_CONN_ID,
                    select="all",
                    expiry=timedelta(hours=24),
                ).execute({})

            references()  # warm-up
            seconds, summary = median_seconds(references)
    finally:
        service.stop()
    rate = summary["count"] / seconds
    return [
        result(
            "gcs_references",
            f"signed URLs/s end to end (list+sign+write), {summary['count']:,} objects on the GCS emulator",
            rate,
            "URL/s",
            detail=f"median of {REPEATS} runs: {seconds:.2f} s; V4 RSA-SHA256 signing with a local key; "
            f"seeding by HTTP upload ran at {seed_rate:,.0f} objects/s; no shell baseline (gcloud is not "
            "installable from PyPI)",
        )
    ]


# --- Memory -----------------------------------------------------------------------------------


def memory_rows() -> list[dict[str, Any]]:
    measures = {}
    for count in MEMORY_COUNTS:
        completed = subprocess.run(
            [sys.executable, "-m", "bench.references_memory", "--count", str(count)],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            capture_output=True,
            text=True,
            check=True,
        )
        measures[count] = json.loads(completed.stdout.strip().splitlines()[-1])
    small, large = (measures[c] for c in MEMORY_COUNTS)
    client_rate = large["count"] / large["seconds"]
    traced_ratio = large["traced_peak_bytes"] / small["traced_peak_bytes"]
    rss_ratio = large["peak_rss_kib"] / small["peak_rss_kib"]
    return [
        result(
            "s3_references",
            f"signed URLs/s, client side only: {large['count']:,} objects, list XML stubbed at boto level",
            client_rate,
            "URL/s",
            target=">= 5,000 URL/s",
            met=client_rate >= 5000,
            detail=f"{large['seconds']:.2f} s; botocore parses every page, real SigV4 signing, real JSONL "
            "writing; no server, so this is what the operator adds on top of the store's listing time",
        ),
        result(
            "references_memory",
            f"peak traced memory, {MEMORY_COUNTS[1]:,} vs {MEMORY_COUNTS[0]:,} objects (lower is better)",
            large["traced_peak_bytes"] / 2**20,
            "MiB",
            baseline=small["traced_peak_bytes"] / 2**20,
            baseline_name=f"{MEMORY_COUNTS[0]:,} objects",
            ratio=traced_ratio,
            target="< 1.5x",
            met=traced_ratio < 1.5,
            detail="tracemalloc peak during list+sign+write in a fresh process; ListObjectsV2 XML stubbed "
            "at the boto level, real parsing, SigV4 signing and JSONL writing "
            f"({large['file_bytes'] / 2**20:.1f} MiB file for {large['count']:,} objects)",
        ),
        result(
            "references_memory",
            f"peak RSS of the process, {MEMORY_COUNTS[1]:,} vs {MEMORY_COUNTS[0]:,} objects (lower: better)",
            large["peak_rss_kib"] / 1024,
            "MiB",
            baseline=small["peak_rss_kib"] / 1024,
            baseline_name=f"{MEMORY_COUNTS[0]:,} objects",
            ratio=rss_ratio,
            target="< 1.5x",
            met=rss_ratio < 1.5,
            detail=f"growth during generation: {small['rss_growth_kib'] / 1024:.1f} MiB vs "
            f"{large['rss_growth_kib'] / 1024:.1f} MiB (the rest is the interpreter, Airflow and boto3)",
        ),
    ]


def run() -> list[dict[str, Any]]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-references-"))
    rows = s3_rows(workdir)
    rows += gcs_rows(workdir)
    rows += memory_rows()
    return rows
