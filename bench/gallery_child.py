"""Child process of bench_gallery: one pipeline window on the emulator stack (moto S3, the Roboflow
emulator, ``dag.test()`` in a fresh metadata DB), then its gallery timed in-process: the run tab with
24 images drawn and the 24 images streamed by the view, against reading the same 24 objects straight
from the bucket through the pipeline's connection. Prints one JSON line."""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import yaml

PIPELINE = "bench_gallery"
BUCKET = "bench-gallery-frames"


def run_window(workdir: Path, images: int) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    from include.devstack import connections
    from include.devstack.airflow_stack import connection_env
    from include.devstack.sample_media import sample_images, seed_s3
    from include.devstack.services import REPO_ROOT, start_moto_server, start_roboflow_emulator

    moto = start_moto_server()
    emulator = start_roboflow_emulator(extra_args=["--ingest-delay", "0.2", "--stage-delay", "0.2"])
    os.environ.update(connection_env("roboflow_default", connections.roboflow_connection(emulator.url)))
    os.environ.update(connection_env("bench_s3", connections.moto_connection(moto.url)))
    seed_s3(moto.url, BUCKET, "cams/", sample_images(images, prefix="g", seed=7, size=(640, 480)))
    pipeline = {
        "id": PIPELINE,
        "schedule": "1h",
        "source": {
            "kind": "s3",
            "conn_id": "bench_s3",
            "bucket": BUCKET,
            "prefix": "cams/",
            "url_expiry": "1h",
            "references_uri": str(workdir / "private" / "{pipeline}-{interval_start:%Y%m%dT%H%M%S}.jsonl"),
        },
        "workflow": {"id": "bright-spot-detector"},
        "readiness": {"poke_interval": "1s"},
        "job": {"poke_interval": "1s", "aggregation_format": "jsonl"},
        "export": {
            "destination": str(workdir / "results" / "{pipeline}" / "{interval_start:%Y%m%dT%H%M%S}") + "/"
        },
    }
    path = workdir / "astro.yaml"
    path.write_text(yaml.safe_dump({"pipelines": [pipeline]}))
    os.environ["ROBOFLOW_PIPELINES_FILE"] = str(path)
    dag = DagBag(dag_folder=str(REPO_ROOT / "dags")).get_dag(f"roboflow_{PIPELINE}")
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    dag_run = dag.test(logical_date=when)
    assert str(dag_run.state) == "success", dag_run.state
    return dag_run, (moto, emulator)


def main(workdir: str, images: int) -> None:
    from airflow.api_fastapi.core_api.security import get_user
    from airflow.sdk import ObjectStoragePath
    from fastapi.testclient import TestClient

    from bench.view_history import timed
    from include.roboflow_batch.webui import app as view

    dag_run, services = run_window(Path(workdir), images)
    try:
        view.readable_dag_ids = lambda user: {dag_run.dag_id}  # type: ignore[assignment]
        application = view.create_view_app()
        application.dependency_overrides[get_user] = lambda: object()
        client = TestClient(application)
        tab = f"/runs/{dag_run.dag_id}/{dag_run.run_id}"
        hrefs = [
            unescape(h).removeprefix("/roboflow-ui")
            for h in re.findall(r'<image href="([^"]+)"', client.get(tab).text)
        ]
        assert len(hrefs) == 24, len(hrefs)
        keys = [unescape(h).split("key=", 1)[1].replace("%2F", "/") for h in hrefs]

        def gallery() -> None:
            page = client.get(tab)
            assert page.status_code == 200
            for href in hrefs:
                image = client.get(href)
                assert image.status_code == 200 and image.content[:4] == b"\x89PNG"

        def straight_from_the_bucket() -> None:
            for key in keys:
                ObjectStoragePath(f"s3://{BUCKET}/{key}", conn_id="bench_s3").read_bytes()

        # Each warmed once first: the manifest's keys, the filesystems, the page's imports.
        page_only = timed(lambda: client.get(tab), repeats=5)
        print(json.dumps({
            "gallery_ms": timed(gallery, repeats=5),
            "page_ms": page_only,
            "bucket_ms": timed(straight_from_the_bucket, repeats=5),
            "images": len(hrefs),
        }))  # fmt: skip
    finally:
        for service in services:
            service.stop()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
