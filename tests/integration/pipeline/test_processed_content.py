"""Never pay twice for the same content: rewrites, re-uploads and copies of processed objects are not sent
again, through real pipeline runs on the emulator, moto and the GCS emulator."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from include.devstack.run_results import local_path
from include.devstack.sample_media import sample_images, seed_gcs, seed_s3, stand_in_s3_client, write_files
from tests.integration.pipeline.conftest import PipelineRun, object_store_pipeline

pytestmark = pytest.mark.integration


def window_of(run: PipelineRun) -> dict[str, Any]:
    """The window a run processed, as the manifests of later windows name it (a manual run's window
    starts where the latest processed one ended)."""
    plan = run.value("plan")
    return {"start": plan["window_start"], "end": plan["window_end"], "select": plan["select"]}


def window_manifest(run: PipelineRun) -> dict[str, Any]:
    """The window's manifest: the lone chunk's, or the one reconcile wrote."""
    import json

    return json.loads(local_path(run.value("reconcile")["manifest_uri"]).read_text())


def skipped_as_processed(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        entry["key"]: entry["processed_in"]
        for entry in manifest["skipped"]["files"]
        if entry["reason"] == "already-processed"
    }


def now() -> str:
    return datetime.now(UTC).isoformat()


def rewrite_metadata(s3: Any, bucket: str, key: str, value: str) -> None:
    """What ``aws s3 cp s3://b/k s3://b/k --metadata reviewed=<value>`` does: same bytes, new LastModified."""
    s3.copy_object(
        Bucket=bucket,
        Key=key,
        CopySource={"Bucket": bucket, "Key": key},
        Metadata={"reviewed": value},
        MetadataDirective="REPLACE",
    )


def windows_of(start: datetime, count: int) -> list[datetime]:
    """Logical dates of ``count`` consecutive hourly runs, the first one's window ending at ``start``."""
    return [start + timedelta(hours=n) for n in range(count)]


@pytest.mark.slow
def test_s3_rewrites_reuploads_and_copies_are_not_sent_again(
    run_pipeline: Callable[..., PipelineRun], moto_server: Any, roboflow_emulator: Any, tmp_path: Path
) -> None:
    s3 = stand_in_s3_client(moto_server.url)
    bucket, prefix = "it-content-s3", "cams/"
    images = {image.name: image for image in sample_images(4, prefix="frame", seed=41)}
    a, b, c, d = (f"frame-{n:03d}.png" for n in range(4))
    # The first window ends a second from now: everything seeded before it is in it.
    first, second, third, fourth = windows_of(
        datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1), 4
    )
    seed_s3(moto_server.url, bucket, prefix, [images[a], images[b], images[c]])
    pipeline = object_store_pipeline("it_content_s3", "s3", bucket, prefix, tmp_path)

    one = run_pipeline(pipeline, first)
    assert one.state == "success", one.tasks
    assert one.value("reconcile")["recorded_content"] == 3

    # In the next window: a metadata-only rewrite in place (same bytes, new LastModified), a re-upload
    # of identical bytes, a copy under a new key, and one new image.
    rewrite_metadata(s3, bucket, prefix + a, "yes")
    s3.put_object(Bucket=bucket, Key=prefix + b, Body=images[b].content)
    s3.copy_object(
        Bucket=bucket, Key=prefix + "copy-of-" + c, CopySource={"Bucket": bucket, "Key": prefix + c}
    )
    s3.put_object(Bucket=bucket, Key=prefix + d, Body=images[d].content)
    # Every object but the original of the copy now sits in the second window.
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    assert all(o["LastModified"] >= first for o in listed if o["Key"] != prefix + c)

    two = run_pipeline(pipeline, second)

    assert two.state == "success", two.tasks
    listing = two.value("list_new_objects")
    assert listing["count"] == 1 and listing["skipped"] == {"already-processed": 3}
    batch = roboflow_emulator.state()["batches"][two.value("ingest")["batch_id"]]
    assert batch["fileCount"] == 1  # the emulator received only the new image
    manifest = window_manifest(two)
    assert skipped_as_processed(manifest) == {
        prefix + a: window_of(one),
        prefix + b: window_of(one),
        prefix + "copy-of-" + c: window_of(one),
    }
    assert manifest["objects"] == {"seen": 4, "processed": 1, "failed": 0, "skipped": 3}
    assert manifest["reconciled"] is True

    # A window holding only content processed before creates no batch and no job at all.
    jobs_before = dict(roboflow_emulator.state()["jobCreations"])
    rewrite_metadata(s3, bucket, prefix + d, "yes")
    three = run_pipeline(pipeline, third)
    assert three.state == "success", three.tasks
    assert three.value("list_new_objects")["count"] == 0
    assert three.task_state("ingest") == "skipped" and three.task_state("start_job") == "skipped"
    assert roboflow_emulator.state()["jobCreations"] == jobs_before
    assert skipped_as_processed(window_manifest(three)) == {prefix + d: window_of(two)}

    # reprocess_unchanged: true sends such content again.
    rewrite_metadata(s3, bucket, prefix + a, "twice")
    four = run_pipeline({**pipeline, "reprocess_unchanged": True}, fourth)
    assert four.state == "success", four.tasks
    assert four.value("list_new_objects")["count"] == 1
    assert roboflow_emulator.state()["batches"][four.value("ingest")["batch_id"]]["fileCount"] == 1
    assert four.value("reconcile")["recorded_content"] is None


@pytest.mark.slow
def test_gcs_a_window_whose_export_failed_records_nothing(
    run_pipeline: Callable[..., PipelineRun], gcs_emulator: Any, roboflow_emulator: Any, tmp_path: Path
) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    bucket, prefix = "it-content-gcs", "shots/"
    images = sample_images(2, prefix="shot", seed=43)
    first, second, third = windows_of(datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1), 3)
    seed_gcs(gcs_emulator.url, bucket, prefix, images)
    pipeline = object_store_pipeline("it_content_gcs", "gcs", bucket, prefix, tmp_path)
    # The first window's results folder already holds someone else's file: its export fails.
    blocked = tmp_path / "results" / "it_content_gcs" / (first - timedelta(hours=1)).strftime("%Y%m%dT%H%M%S")
    blocked.mkdir(parents=True)
    (blocked / "manifest.json").write_text("not ours")

    failed = run_pipeline(pipeline, first)
    assert failed.state == "failed" and failed.task_state("export") == "failed"
    assert failed.task_state("reconcile") != "success"

    store = storage.Client(
        project="demo-project",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": gcs_emulator.url},
    ).bucket(bucket)
    # In-place copies: same bytes and md5Hash, a new updated time. (Real GCS also moves `updated` on
    # a metadata patch; the emulator does not, so a copy stands for both here.) Each later window
    # runs from the end of the one before to now, given as run params.
    for image in images:
        store.copy_blob(store.blob(prefix + image.name), store, prefix + image.name)
    two = run_pipeline(pipeline, second, conf={"window_start": first.isoformat(), "window_end": now()})
    assert two.state == "success", two.tasks
    # Nothing was recorded for the failed window, so its content is sent again.
    assert two.value("list_new_objects")["count"] == 2
    assert two.value("reconcile")["recorded_content"] == 2

    store.copy_blob(store.blob(prefix + images[0].name), store, prefix + images[0].name)
    three = run_pipeline(pipeline, third, conf={"window_start": window_of(two)["end"], "window_end": now()})
    assert three.state == "success", three.tasks
    assert skipped_as_processed(window_manifest(three)) == {prefix + images[0].name: window_of(two)}


def test_local_touched_files_and_identical_copies_are_not_sent_again(
    run_pipeline: Callable[..., PipelineRun], roboflow_emulator: Any, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    images = sample_images(3, prefix="lab", seed=47)
    first, second = windows_of(datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1), 2)
    write_files(drop, images[:2])
    pipeline = {
        "id": "it_content_local",
        "source": {"kind": "local", "directory": str(drop), "state_directory": str(tmp_path / "state")},
        "workflow": {"id": "bright-spot-detector"},
        "export": {"destination": str(tmp_path / "results" / "{interval_start:%Y%m%dT%H%M%S}") + "/"},
    }
    one = run_pipeline(pipeline, first)
    assert one.state == "success", one.tasks
    assert one.value("reconcile")["recorded_content"] == 2

    # In the next window: a file touched (new times, same bytes), an identical copy, one new file.
    touched, copied = drop / images[0].name, drop / ("copy-" + images[1].name)
    touched.touch()
    shutil.copyfile(drop / images[1].name, copied)
    write_files(drop, images[2:])

    two = run_pipeline(pipeline, second)
    assert two.state == "success", two.tasks
    assert two.value("list_local_files")["count"] == 1
    assert roboflow_emulator.state()["batches"][two.value("ingest")["batch_id"]]["fileCount"] == 1
    assert skipped_as_processed(window_manifest(two)) == {
        touched.name: window_of(one),
        copied.name: window_of(one),
    }
