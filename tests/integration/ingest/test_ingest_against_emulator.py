"""Ingest into the Roboflow emulator and wait for readiness, with moto holding the referenced images."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from include.roboflow_batch.operators.ingest import RoboflowIngestOperator
from include.roboflow_batch.sensors.batch_ready import RoboflowBatchReadySensor
from tests.integration.ingest.conftest import png_bytes, run_sensor
from tests.unit.ingest.task_context import FakeStateStore, make_context

pytestmark = pytest.mark.integration

OVERSIZE = 20 * 1024 * 1024 + 1


def unique_batch(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def batch_state(emulator: Any, batch_id: str) -> dict[str, Any]:
    return emulator.state()["batches"][batch_id]


def route_count(emulator: Any, fragment: str) -> int:
    return sum(count for route, count in emulator.state()["requests"].items() if fragment in route)


def sensor(
    conn_id: str, batch_id: str, expected: Any, rate: float, **kwargs: Any
) -> RoboflowBatchReadySensor:
    return RoboflowBatchReadySensor(
        task_id="ready",
        batch_id=batch_id,
        expected_count=expected,
        max_failure_rate=rate,
        poke_interval=0.2,
        timeout=60,
        roboflow_conn_id=conn_id,
        **kwargs,
    )


def test_references_with_bad_files_are_reported_and_judged_by_tolerance(
    roboflow_emulator: Any, roboflow_conn: str, aws_conn: str, s3: Any
) -> None:
    bucket = f"refs-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    lines = []
    for i in range(300):
        key = f"in/img-{i:04d}.png"
        s3.put_object(Bucket=bucket, Key=key, Body=png_bytes(i))
        lines.append(
            {
                "name": f"img-{i:04d}.png",
                "url": s3.generate_presigned_url(
                    "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600
                ),
            }
        )
    s3.put_object(Bucket=bucket, Key="in/huge.png", Body=b"\0" * OVERSIZE)
    lines.append(
        {
            "name": "huge.png",
            "url": s3.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": "in/huge.png"}, ExpiresIn=3600
            ),
        }
    )
    for name in ("gone-1.png", "gone-2.png"):
        lines.append(
            {
                "name": name,
                "url": s3.generate_presigned_url(
                    "get_object", Params={"Bucket": bucket, "Key": f"in/{name}"}, ExpiresIn=3600
                ),
            }
        )
    lines.append({"name": "elsewhere.png", "url": "https://images.untrusted.example/elsewhere.png"})
    body = "".join(json.dumps(line) + "\n" for line in lines)
    s3.put_object(Bucket=bucket, Key="refs/run.jsonl", Body=body.encode())

    batch_id = unique_batch("refs")
    context = make_context()
    ingest = RoboflowIngestOperator(
        task_id="ingest",
        batch_id=batch_id,
        references=f"s3://{bucket}/refs/run.jsonl",
        references_conn_id=aws_conn,
        roboflow_conn_id=roboflow_conn,
    )
    summary = ingest.execute(context)
    assert (summary["mode"], summary["expected_count"], summary["duplicated_chunks"]) == (
        "references",
        304,
        0,
    )

    ready = run_sensor(sensor(roboflow_conn, batch_id, summary["expected_count"], 0.05), context)
    assert (ready["expected"], ready["staged"], ready["failed_count"]) == (304, 300, 4)
    assert ready["failed_by_type"] == {
        "file-not-reachable": 2,
        "file-size-limit-exceeded": 1,
        "unsafe-url-detected": 1,
    }
    assert {f["file_name"] for f in ready["failed"]} == {
        "huge.png",
        "gone-1.png",
        "gone-2.png",
        "elsewhere.png",
    }

    with pytest.raises(AirflowFailException, match=r"4 of 304 files failed"):
        run_sensor(sensor(roboflow_conn, batch_id, 304, 0.01), context)

    # A retry sends the same chunk under the same ingest id: answered duplicated, nothing added.
    again = ingest.execute(context)
    assert again["ingest_ids"] == summary["ingest_ids"]
    assert again["duplicated_chunks"] == 1
    state = batch_state(roboflow_emulator, batch_id)
    assert state["fileCount"] == 300
    assert state["ingestIds"] == summary["ingest_ids"]


def test_references_url_is_fetched_by_the_service(
    roboflow_emulator: Any, roboflow_conn: str, s3: Any
) -> None:
    bucket = f"refsurl-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    lines = []
    for i in range(12):
        s3.put_object(Bucket=bucket, Key=f"i{i}.png", Body=png_bytes(100 + i))
        url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": f"i{i}.png"}, ExpiresIn=600
        )
        lines.append(json.dumps({"name": f"i{i}.png", "url": url}))
    s3.put_object(Bucket=bucket, Key="refs.jsonl", Body=("\n".join(lines) + "\n").encode())
    refs_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "refs.jsonl"}, ExpiresIn=600
    )

    batch_id = unique_batch("refsurl")
    context = make_context()
    summary = RoboflowIngestOperator(
        task_id="ingest", batch_id=batch_id, references_url=refs_url, roboflow_conn_id=roboflow_conn
    ).execute(context)
    assert (summary["mode"], summary["expected_count"]) == ("references_url", 12)
    assert "X-Amz-Signature" not in json.dumps(summary)
    ready = run_sensor(sensor(roboflow_conn, batch_id, summary["expected_count"], 0.0), context)
    assert (ready["staged"], ready["failed_count"]) == (12, 0)


def test_small_local_directory_uses_single_uploads_and_retries_add_nothing(
    roboflow_emulator: Any, roboflow_conn: str, tmp_path: Path
) -> None:
    for i in range(5):
        (tmp_path / f"photo-{i}.png").write_bytes(png_bytes(200 + i))
    (tmp_path / "readme.txt").write_text("ignored")
    batch_id = unique_batch("simple")
    store = FakeStateStore()
    context = make_context(store=store)
    ingest = RoboflowIngestOperator(
        task_id="ingest", batch_id=batch_id, local_directory=str(tmp_path), roboflow_conn_id=roboflow_conn
    )
    summary = ingest.execute(context)
    assert (summary["mode"], summary["expected_count"], summary["sent_count"]) == ("simple", 5, 5)
    ready = run_sensor(sensor(roboflow_conn, batch_id, 5, 0.0, deferrable=False, mode="poke"), context)
    assert ready["staged"] == 5

    uploads_before = route_count(roboflow_emulator, "/upload/image")
    again = ingest.execute(context)
    assert (again["sent_count"], again["already_sent_count"]) == (0, 5)
    assert route_count(roboflow_emulator, "/upload/image") == uploads_before
    state = batch_state(roboflow_emulator, batch_id)
    assert (state["batchType"], state["fileCount"]) == ("simple-batch", 5)


def test_large_local_directory_goes_in_bulk_tars_and_a_retry_sends_no_duplicates(
    roboflow_emulator: Any, roboflow_conn: str, tmp_path: Path
) -> None:
    for i in range(60):
        (tmp_path / f"frame-{i:03d}.png").write_bytes(png_bytes(300 + i))
    (tmp_path / "broken.jpg").write_bytes(b"not really a jpeg")
    batch_id = unique_batch("bulk")
    store = FakeStateStore()
    context = make_context(store=store)
    ingest = RoboflowIngestOperator(
        task_id="ingest",
        batch_id=batch_id,
        local_directory=tmp_path.as_uri(),
        simple_upload_limit=10,
        images_per_tar=25,
        upload_concurrency=3,
        roboflow_conn_id=roboflow_conn,
    )
    summary = ingest.execute(context)
    assert (summary["mode"], summary["expected_count"], len(summary["ingest_ids"])) == ("bulk", 61, 3)

    ready = run_sensor(sensor(roboflow_conn, batch_id, 61, 0.05), context)
    assert (ready["staged"], ready["failed_count"]) == (60, 1)
    assert ready["failed"] == [
        {
            "file_name": "broken.jpg",
            "type": "unsupported-file-type",
            "reason": "File content is not a decodable image.",
        }
    ]
    state = batch_state(roboflow_emulator, batch_id)
    assert (state["batchType"], state["fileCount"], state["shards"]) == ("sharded-batch", 60, 3)

    # Retry of the same task instance: the state store says every tar went; nothing is sent.
    bulk_requests = route_count(roboflow_emulator, "/bulk-upload/image-files")
    again = ingest.execute(context)
    assert (again["sent_count"], again["already_sent_count"]) == (0, 61)
    assert route_count(roboflow_emulator, "/bulk-upload/image-files") == bulk_requests

    # Even with the record lost (a crash before it was written), staged files are not sent again.
    lost = ingest.execute(make_context(store=FakeStateStore()))
    assert lost["sent_count"] == 1  # only the file the service refused goes again
    state = batch_state(roboflow_emulator, batch_id)
    assert state["fileCount"] == 60
    ready = run_sensor(sensor(roboflow_conn, batch_id, 61, 0.05), context)
    assert ready["failed_count"] == 1


def test_local_videos_are_uploaded_through_signed_urls(
    roboflow_emulator: Any, roboflow_conn: str, tmp_path: Path
) -> None:
    for name in ("cam-a.mp4", "cam-b.mov"):
        (tmp_path / name).write_bytes(b"\x00\x00\x00\x18ftypmp42" + name.encode() * 100)
    batch_id = unique_batch("videos")
    context = make_context()
    summary = RoboflowIngestOperator(
        task_id="ingest",
        batch_id=batch_id,
        media_type="videos",
        local_directory=str(tmp_path),
        roboflow_conn_id=roboflow_conn,
    ).execute(context)
    assert (summary["mode"], summary["expected_count"]) == ("video", 2)
    ready = run_sensor(sensor(roboflow_conn, batch_id, 2, 0.0), context)
    assert ready["staged"] == 2
    state = batch_state(roboflow_emulator, batch_id)
    assert (state["contentType"], state["fileCount"]) == ("videos", 2)


def test_retried_attempts_under_faults_end_with_every_file_staged_once(
    roboflow_emulator: Any, roboflow_conn: str, tmp_path: Path
) -> None:
    """Server errors and responses lost after the write: Airflow-style retries converge, no duplicates."""
    for i in range(90):
        (tmp_path / f"shot-{i:03d}.png").write_bytes(png_bytes(700 + i))
    batch_id = unique_batch("faults")
    store = FakeStateStore()
    ingest = RoboflowIngestOperator(
        task_id="ingest",
        batch_id=batch_id,
        local_directory=str(tmp_path),
        simple_upload_limit=0,
        images_per_tar=10,
        upload_concurrency=4,
        roboflow_conn_id=roboflow_conn,
    )
    attempts = 0
    faults_before = sum(roboflow_emulator.state()["faultsInjected"].values())
    roboflow_emulator.set_faults(rate=0.25, statuses=[500, 503], drop_after_write_rate=0.15, seed=11)
    try:
        while True:
            attempts += 1
            try:
                summary = ingest.execute(make_context(store=store))
                break
            except AirflowException:
                assert attempts < 15, "the ingest never converged"
    finally:
        roboflow_emulator.clear_faults()
    assert summary["expected_count"] == 90
    ready = run_sensor(sensor(roboflow_conn, batch_id, 90, 0.0), make_context())
    assert (ready["staged"], ready["failed_count"]) == (90, 0)
    state = batch_state(roboflow_emulator, batch_id)
    assert state["fileCount"] == 90
    faults_after = sum(roboflow_emulator.state()["faultsInjected"].values())
    assert faults_after > faults_before, "no fault was injected: the test proved nothing"
    # Each tar reached the service once (one shard each), however many attempts it took.
    assert state["shards"] == 9


@pytest.mark.parametrize("expired_ids", ["reuse", "refuse"])
def test_a_rerun_after_the_batch_expired_stages_everything_again(
    roboflow_emulator: Any, roboflow_conn: str, tmp_path: Path, expired_ids: str
) -> None:
    from include.roboflow_batch.api.ids import staged_batch_id

    for i in range(3):
        (tmp_path / f"photo-{i}.png").write_bytes(png_bytes(300 + i))
    base = unique_batch("expiring")
    store = FakeStateStore()
    context = make_context(store=store)
    ingest = RoboflowIngestOperator(
        task_id="ingest", batch_id=base, local_directory=str(tmp_path), roboflow_conn_id=roboflow_conn
    )
    assert ingest.execute(context)["sent_count"] == 3
    roboflow_emulator.set_switches(expiredBatchIds=expired_ids)
    roboflow_emulator.advance_clock(8 * 24 * 3600)
    try:
        # The task state still says all three were sent, but the batch that held them is gone.
        again = ingest.execute(context)
        expected_id = base if expired_ids == "reuse" else staged_batch_id(base, 2)
        assert again["batch_id"] == expected_id
        assert (again["sent_count"], again["already_sent_count"]) == (3, 0)
        ready = run_sensor(sensor(roboflow_conn, expected_id, 3, 0.0, deferrable=False, mode="poke"), context)
        assert ready["staged"] == 3
        # A retry of that attempt finds the same batch and sends nothing.
        assert ingest.execute(context)["batch_id"] == expected_id
        assert batch_state(roboflow_emulator, expected_id)["fileCount"] == 3
    finally:
        roboflow_emulator.clear_switches()
        roboflow_emulator.reset()
