"""GCS V4 signing: the references operator's rate against the machine's raw RSA-SHA256 capacity.

Raw capacity: one process per core doing nothing but RSA-2048 PKCS#1 v1.5 signatures of a
string-to-sign sized message (the floor of any V4 signer). Ours: ``GCSGetUrlSigner.sign_many`` on a
local service-account key (URLs built by the storage library, worker processes started inside the
timing), and the whole operator end to end (list on the GCS emulator + sign + write JSONL). Runs
alternate; the load average is reported because the machine is shared.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import result
from bench.bench_references import environment
from include.devstack.services import start_gcs_emulator

KEYS = int(os.environ.get("BENCH_GCS_SIGN_KEYS", "20000"))
# The GCS emulator lists slowly (in-memory, pure Python): the end-to-end run uses fewer objects.
END_TO_END_OBJECTS = int(os.environ.get("BENCH_GCS_E2E_OBJECTS", "3000"))
RAW_PER_CORE = int(os.environ.get("BENCH_RAW_RSA_PER_CORE", "6000"))
REPEATS = 3
BUCKET = "bench-signing"


def _raw_worker(pem: bytes, count: int) -> tuple[float, float]:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = serialization.load_pem_private_key(pem, password=None)
    message = b"GOOG4-RSA-SHA256\n20261130T000000Z\n20261130/auto/storage/goog4_request\n" + b"0" * 64
    started = time.time()
    for n in range(count):
        key.sign(message + str(n).encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]
    return started, time.time()


def raw_rsa_rate(pem: bytes, pool: ProcessPoolExecutor, workers: int) -> float:
    spans = list(pool.map(_raw_worker, [pem] * workers, [RAW_PER_CORE] * workers))
    return workers * RAW_PER_CORE / (max(end for _, end in spans) - min(start for start, _ in spans))


def sign_many_rate(info: dict[str, Any]) -> float:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    from google.oauth2 import service_account

    from include.roboflow_batch.references.gcs import GCSGetUrlSigner

    client = storage.Client(project="bench-project", credentials=AnonymousCredentials())
    credentials = service_account.Credentials.from_service_account_info(info)
    started = time.perf_counter()
    signer = GCSGetUrlSigner(client, BUCKET, timedelta(hours=24), credentials)
    try:
        count = sum(1 for _ in signer.sign_many(f"bench/cam-{n % 10}/frame-{n:07d}.jpg" for n in range(KEYS)))
    finally:
        signer.close()
    return count / (time.perf_counter() - started)


def end_to_end_rate(info: dict[str, Any], workdir: Path) -> tuple[float | None, str]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from include.roboflow_batch.operators.references import GCSReferencesOperator
    from tests.unit.references.signatures import gcp_connection

    service = start_gcs_emulator()
    env = {
        "STORAGE_EMULATOR_HOST": service.url,
        "AIRFLOW_CONN_GCS_SIGN_BENCH": gcp_connection({"is_anonymous": True, "project": "bench-project"}),
        "AIRFLOW_CONN_GCS_SIGN_BENCH_KEY": gcp_connection(
            {"keyfile_dict": json.dumps(info), "project": "bench-project"}
        ),
    }
    try:
        with environment(**env):
            from concurrent.futures import ThreadPoolExecutor

            client = storage.Client(project="bench-project", credentials=AnonymousCredentials())
            bucket = client.create_bucket(BUCKET)
            with ThreadPoolExecutor(8) as pool:
                list(
                    pool.map(
                        lambda n: bucket.blob(f"bench/cam-{n % 10}/frame-{n:07d}.jpg").upload_from_string(
                            b"\xff"
                        ),
                        range(END_TO_END_OBJECTS),
                    )
                )
            timings = []
            for _ in range(2):  # the first run also pays the worker processes' start
                started = time.perf_counter()
                summary = GCSReferencesOperator(
                    task_id="bench",
                    bucket=BUCKET,
                    prefix="bench/",
                    destination=f"file://{workdir}/gcs.jsonl",
                    gcp_conn_id="gcs_sign_bench",
                    signing_conn_id="gcs_sign_bench_key",
                    select="all",
                    expiry=timedelta(hours=24),
                ).execute({})
                timings.append(time.perf_counter() - started)
            return summary["count"] / min(timings), f"{summary['count']:,} objects, runs {timings}"
    finally:
        service.stop()


def run() -> list[dict[str, Any]]:
    from cryptography.hazmat.primitives import serialization

    from tests.unit.references.signatures import new_service_account

    info, _ = new_service_account("bench-project")
    pem = serialization.load_pem_private_key(info["private_key"].encode(), password=None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    workers = os.cpu_count() or 1
    raw, ours, loads = [], [], []
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_raw_worker, [pem] * workers, [10] * workers))  # start the workers
        for _ in range(REPEATS):
            loads.append(os.getloadavg()[0])
            raw.append(raw_rsa_rate(pem, pool, workers))
            ours.append(sign_many_rate(info))
    raw_rate, our_rate = statistics.median(raw), statistics.median(ours)
    with tempfile.TemporaryDirectory() as workdir:
        e2e, e2e_detail = end_to_end_rate(info, Path(workdir))
    load = f"1-min load {min(loads):.1f}-{max(loads):.1f} on {workers} cores"
    return [
        result(
            "gcs_signing",
            f"V4 URLs/s signed ({KEYS:,} keys, worker start included) vs raw RSA-2048 signatures/s",
            our_rate,
            "URL/s",
            baseline=raw_rate,
            baseline_name=f"raw RSA on {workers} processes",
            target=">= 80 % of raw",
            met=our_rate >= 0.8 * raw_rate,
            detail=f"medians of {REPEATS} alternating runs: ours {[round(r) for r in ours]}, raw "
            f"{[round(r) for r in raw]}; {load}",
        ),
        result(
            "gcs_signing",
            "GCS references end to end (list on the GCS emulator + sign + write) vs raw RSA",
            e2e or 0.0,
            "URL/s",
            baseline=raw_rate,
            baseline_name=f"raw RSA on {workers} processes",
            target=">= 80 % of raw",
            met=bool(e2e) and e2e >= 0.8 * raw_rate,
            detail=f"best of 2: {e2e_detail}; the emulator's listing shares the same two cores",
        ),
    ]
