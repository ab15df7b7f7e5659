"""Each window's results table holds exactly the raw result rows, read back with DuckDB.

Detection on S3 (a window fanned out into two batches, with an empty object skipped and an image the
Workflow cannot decode, then a second window over the same objects) and classification on GCS,
each exported to its object store with the table beside the exports. The table is compared with
the raw result files the manifests list, parsed here independently of the writer.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from include.devstack.sample_media import sample_images, seed_gcs, seed_s3, stand_in_s3_client
from include.roboflow_batch.export.results_asset import RESULTS_ASSET_PREFIX
from tests.integration.pipeline.conftest import PipelineRun, object_store_pipeline

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[3]
DETECTION_COLUMNS = "source_name, class_name, class_id, confidence, x, y, width, height, detection_id"


def window(start: datetime, hours: int) -> dict[str, str]:
    return {
        "window_start": (start - timedelta(hours=hours)).isoformat(),
        "window_end": (start + timedelta(hours=hours)).isoformat(),
    }


def truncated_png() -> bytes:
    """A PNG whose header reads but whose pixels do not: staged, then failed by the Workflow."""
    return sample_images(1, seed=99)[0].content[:80]


def read_json(uri: str, conn_id: str) -> Any:
    from airflow.sdk import ObjectStoragePath

    return json.loads(ObjectStoragePath(uri, conn_id=conn_id).read_text())


def raw_rows(run: PipelineRun, conn_id: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(chunk manifest, result row)`` of every raw result file of the run's window."""
    from airflow.sdk import ObjectStoragePath

    window_manifest = read_json(run.value("reconcile")["manifest_uri"], conn_id)
    chunk_uris = [c["manifest"] for c in window_manifest.get("chunks", [])] or [
        run.value("reconcile")["manifest_uri"]
    ]
    rows = []
    for uri in chunk_uris:
        manifest = read_json(uri, conn_id)
        folder = uri.rsplit("/", 1)[0]
        for entry in manifest["files"]:
            if entry["path"].endswith(".jsonl"):
                text = ObjectStoragePath(f"{folder}/{entry['path']}", conn_id=conn_id).read_text()
                rows += [(manifest, json.loads(line)) for line in text.splitlines() if line.strip()]
    return rows


def expected_detections(rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[tuple[Any, ...]]:
    found = []
    for _manifest, row in rows:
        boxes = row["predictions"]["predictions"]
        found += [
            (row["file_name"], b["class"], b["class_id"], b["confidence"], b["x"], b["y"], b["width"],
             b["height"], b["detection_id"])
            for b in boxes
        ] or [(row["file_name"], *[None] * 8)]  # fmt: skip
    return sorted(found, key=repr)


def query(db: Any, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return sorted(db.execute(sql, list(params)).fetchall(), key=repr)


def window_end(run: PipelineRun) -> datetime:
    return datetime.fromisoformat(run.value("plan")["window_end"])


def test_detection_and_classification_windows_read_back_exactly_with_duckdb(
    run_pipeline: Callable[..., PipelineRun],
    moto_server: Any,
    gcs_emulator: Any,
    roboflow_emulator: Any,
    tmp_path: Path,
) -> None:
    import duckdb

    from include.roboflow_batch.results_table.reading import open_table

    seeded = datetime.now(UTC).replace(microsecond=0)
    images = sample_images(4, prefix="t", seed=21)
    seed_s3(moto_server.url, "it-table-frames", "cams/", images)
    s3 = stand_in_s3_client(moto_server.url)
    s3.put_object(Bucket="it-table-frames", Key="cams/empty.png", Body=b"")
    s3.put_object(Bucket="it-table-frames", Key="cams/broken.png", Body=truncated_png())
    s3.create_bucket(Bucket="it-table-results")
    detector = object_store_pipeline(
        "tbl_det",
        "s3",
        "it-table-frames",
        "cams/",
        tmp_path,
        max_batch_objects=3,  # five objects to send: two batches and jobs
        reprocess_unchanged=True,  # the second window sends the same objects again
        export={"destination": "s3://it-table-results/{pipeline}/{interval_start:%Y%m%dT%H%M%S}/"},
    )
    seed_gcs(gcs_emulator.url, "it-table-shelves", "shelves/", sample_images(3, prefix="s", seed=22))
    classifier = object_store_pipeline(
        "tbl_cls",
        "gcs",
        "it-table-shelves",
        "shelves/",
        tmp_path,
        workflow={"id": "brightness-classifier"},
        export={"destination": "gs://it-table-shelves/results/{pipeline}/{interval_start:%Y%m%dT%H%M%S}/"},
    )

    first = run_pipeline(detector, conf=window(seeded, 1))
    second = run_pipeline(detector, conf=window(seeded, 2))
    classified = run_pipeline(classifier, conf=window(seeded, 1))

    for run in (first, second, classified):
        assert run.state == "success", run.tasks
    assert first.value("reconcile")["chunks"] == 2
    table = first.value("reconcile")["table"]
    assert table["table_uri"] == "s3://it-table-results/tables/predictions/"
    assert (
        classified.value("reconcile")["table"]["table_uri"]
        == "gs://it-table-shelves/results/tables/predictions/"
    )

    with duckdb.connect() as db:
        db.register("det", open_table(table["table_uri"], conn_id="it_s3"))
        db.register("det_failures", open_table(table["root"], "failures", conn_id="it_s3"))
        db.register("cls", open_table(classified.value("reconcile")["table"]["root"], conn_id="it_gcs"))

        # Two windows of the detector, each exactly its raw rows: every box, one row of nulls per
        # empty image, nothing twice.
        assert query(db, "SELECT count(DISTINCT window_end) FROM det WHERE pipeline = 'tbl_det'") == [(2,)]
        for run in (first, second):
            rows = raw_rows(run, "it_s3")
            got = query(db, f"SELECT {DETECTION_COLUMNS} FROM det WHERE window_end = ?", window_end(run))
            assert got == expected_detections(rows)
            assert len(got) == run.value("reconcile")["table"]["rows"]
            assert query(
                db,
                "SELECT count(*) - count(DISTINCT detection_id) FROM det WHERE window_end = ?",
                window_end(run),
            ) == [(0,)]
            # Every object the window saw is in one of the two tables: 4 images with rows, the
            # empty object skipped while listing, the broken image failed in processing.
            failures = query(
                db,
                "SELECT stage, source_key, reason_type FROM det_failures WHERE window_end = ?",
                window_end(run),
            )
            assert [(stage, key) for stage, key, _ in failures] == [
                ("listing", "cams/empty.png"),
                ("processing", "cams/broken.png"),
            ]
            processed = query(db, "SELECT DISTINCT source_key FROM det WHERE window_end = ?", window_end(run))
            assert processed == sorted([(f"cams/{image.name}",) for image in images], key=repr)
            seen = read_json(run.value("reconcile")["manifest_uri"], "it_s3")["objects"]["seen"]
            assert len(processed) + len(failures) == seen

        # The bright squares are where the sample images drew them.
        for image in images:
            [(x, y)] = query(
                db,
                "SELECT x, y FROM det WHERE window_end = ? AND source_key = ?",
                window_end(first),
                f"cams/{image.name}",
            )
            assert abs(x - image.spot[0]) <= 1.5 and abs(y - image.spot[1]) <= 1.5

        # Classification: one row per image, its top class and confidence.
        raw = raw_rows(classified, "it_gcs")
        expected = sorted(
            (
                (row["file_name"], row["predictions"]["top"], row["predictions"]["confidence"])
                for _, row in raw
            ),
            key=repr,
        )
        got = query(
            db, "SELECT source_name, class_name, confidence FROM cls WHERE output_kind = 'classification'"
        )
        assert got == expected and len(got) == 3

    # The Roboflow view draws both windows' galleries from their tables and streams their images
    # from the pipelines' own buckets (S3 and GCS), reading manifests through the export connections.
    check_view(first, "tbl_det", {f"cams/{image.name}" for image in images}, 2, {"bright-spot": 4})
    check_view(classified, "tbl_cls", {f"shelves/s-00{i}.png" for i in range(3)}, 0, {"dark": 3})

    # The window's results Asset event names the table and its rows.
    extra = results_event_extras("tbl_det")[-1]
    assert extra["table"]["uri"] == table["table_uri"]
    assert extra["table"]["rows"] == second.value("reconcile")["table"]["rows"]

    # The docs' downstream DAG, run on the latest event: detections per class and day.
    counted = run_docs_example(tmp_path, "tbl_det", "it_s3", extra)
    per_day: Counter[str] = Counter()
    for run in (first, second):  # each window found the four squares
        per_day[
            datetime.fromisoformat(run.value("plan")["window_start"]).astimezone(UTC).date().isoformat()
        ] += 4
    assert counted == [
        {"date": d, "class": "bright-spot", "detections": n} for d, n in sorted(per_day.items())
    ]


def check_view(
    run: PipelineRun, pipeline_id: str, keys: set[str], failures: int, classes: dict[str, int]
) -> None:
    """The run's gallery (as a user who may read its DAG) and one of its images, sent by the view."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from include.roboflow_batch.webui import app as view

    dag_id = f"roboflow_{pipeline_id}"
    original = view.readable_dag_ids
    view.readable_dag_ids = lambda user: {dag_id}
    try:
        application = view.create_view_app()
        application.dependency_overrides[get_user] = lambda: object()
        with TestClient(application) as client:
            gallery = client.get(f"/api/runs/{dag_id}/{run.dag_run.run_id}/gallery").json()
            assert {i["source_key"] for i in gallery["items"] if not i["failure"]} == keys
            assert (gallery["failures"], gallery["class_counts"]) == (failures, classes)
            key = sorted(keys)[0]
            image = client.get(f"/runs/{dag_id}/{run.dag_run.run_id}/media", params={"key": key})
            assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
            page = client.get(f"/runs/{dag_id}/{run.dag_run.run_id}/image", params={"key": key})
            assert page.status_code == 200 and "Raw prediction" in page.text
    finally:
        view.readable_dag_ids = original


def results_event_extras(pipeline_id: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = (
            select(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == f"{RESULTS_ASSET_PREFIX}{pipeline_id}")
            .order_by(AssetEvent.id)
        )
        return list(session.scalars(query))


def docs_example_dag() -> str:
    """The downstream DAG of docs/results-table.md, as written there."""
    [code] = [
        block
        for block in re.findall(
            r"```python\n(.*?)```", (REPO_ROOT / "docs" / "results-table.md").read_text(), re.S
        )
        if "with DAG(" in block
    ]
    return code


def run_docs_example(tmp_path: Path, pipeline_id: str, conn_id: str, extra: dict[str, Any]) -> Any:
    """Load the docs' DAG for ``pipeline_id`` and run its task on an event carrying ``extra``."""
    from airflow.dag_processing.dagbag import DagBag

    code = docs_example_dag()
    code = code.replace('PIPELINE_ID = "warehouse_cameras"', f"PIPELINE_ID = {pipeline_id!r}")
    code = code.replace("TABLE_CONN_ID = None", f"TABLE_CONN_ID = {conn_id!r}")
    folder = tmp_path / "docs-example"
    folder.mkdir()
    (folder / "count_detections.py").write_text(code)
    bag = DagBag(dag_folder=str(folder))
    assert bag.import_errors == {}
    dag = bag.get_dag(f"count_{pipeline_id}_detections")
    assert dag is not None
    task = dag.get_task("count_detections")

    class Event:
        def __init__(self, extra: dict[str, Any]) -> None:
            self.extra = extra

    return task.python_callable(triggering_asset_events={"results": [Event(extra)]})
