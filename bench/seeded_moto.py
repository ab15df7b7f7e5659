"""A moto S3 server process whose buckets are filled through moto's in-process backend.

Seeding 100k objects by HTTP PUT runs at a few hundred per second; writing them straight into
the backend of the server's own process takes seconds. Everything the benchmark measures then
goes over HTTP to this server, as it would to a real store.

    python -m bench.seeded_moto --port P --bucket NAME --objects PREFIX:COUNT [--objects ...]
"""

from __future__ import annotations

import argparse
import signal
import threading

from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer


def object_key(prefix: str, index: int) -> str:
    """The key of the index-th seeded object: ten camera folders, numbered frames."""
    return f"{prefix}cam-{index % 10}/frame-{index:07d}.jpg"


def seed(bucket: str, prefix: str, count: int) -> None:
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    if bucket not in backend.buckets:
        backend.create_bucket(bucket, "us-east-1")
    for index in range(count):
        backend.put_object(bucket, object_key(prefix, index), b"\xff\xd8\xff" + index.to_bytes(4, "big"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--objects", action="append", default=[], help="PREFIX:COUNT, repeatable")
    args = parser.parse_args()
    for spec in args.objects:
        prefix, _, count = spec.rpartition(":")
        seed(args.bucket, prefix, int(count))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
