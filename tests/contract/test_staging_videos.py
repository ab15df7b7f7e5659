"""data-staging create-batch-of-videos: a local directory of real videos, and signed-URL references."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import httpx
import pytest

from tests.contract.conftest import EmulatorUnderTest, S3Bucket, unique_id, write_references
from tests.contract.media import VideoSpec
from tests.contract.webhooks import WebhookReceiver

pytestmark = pytest.mark.contract


def test_directory_of_videos(
    emulator: EmulatorUnderTest, videos: dict[str, tuple[VideoSpec, Path]], tmp_path: Path
) -> None:
    batch_id = unique_id("ct-videos")
    directory = tmp_path / "videos"
    directory.mkdir()
    for _, path in videos.values():
        shutil.copy(path, directory / path.name)
    # The CLI probes every file with OpenCV and skips what is not a readable video.
    (directory / "broken.mp4").write_bytes(b"this is not a video")

    result = emulator.cli.run(
        "data-staging", "create-batch-of-videos",
        "--videos-dir", directory, "--batch-id", batch_id, "--batch-name", "Local videos",
    )  # fmt: skip

    assert "broken.mp4 is corrupted or is not a video file" in result.stdout
    batch = emulator.probe.batch(batch_id)
    assert (batch["batchType"], batch["batchContentType"]) == ("simple-batch", "videos")
    assert batch["displayName"] == "Local videos"
    staged = {f["fileName"]: f for f in emulator.probe.files(batch_id)}
    assert set(staged) == set(videos)
    for name, (_, path) in videos.items():
        content = httpx.get(staged[name]["downloadURL"], timeout=10.0).content
        assert hashlib.sha256(content).hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()

    # A second run resumes from the CLI's import log and uploads nothing twice.
    requests_before = emulator.probe.state()
    emulator.cli.run("data-staging", "create-batch-of-videos", "-v", directory, "-b", batch_id)
    assert emulator.probe.count(batch_id) == len(videos)
    assert _video_upload_requests(emulator.probe.state()) == _video_upload_requests(requests_before)


def _video_upload_requests(state: dict) -> int:
    """Requests so far to the video upload route (D8), from the state endpoint's per-route counters."""
    return sum(
        count
        for route, count in state["requests"].items()
        if route.startswith("POST") and route.endswith("/upload/video")
    )


def test_references_file_of_presigned_video_urls(
    emulator: EmulatorUnderTest,
    videos: dict[str, tuple[VideoSpec, Path]],
    s3_bucket: S3Bucket,
    webhooks: WebhookReceiver,
    tmp_path: Path,
) -> None:
    batch_id = unique_id("ct-vrefs")
    ingest_id = unique_id("ingest-vrefs")
    hook_path = f"/ingest/{batch_id}"
    references = []
    for name, (_, path) in videos.items():
        s3_bucket.put(f"videos/{name}", path)
        references.append({"name": name, "url": s3_bucket.presign(f"videos/{name}")})
    references_file = write_references(tmp_path / "videos.jsonl", references)

    result = emulator.cli.run(
        "data-staging", "create-batch-of-videos", "--data-source", "references-file",
        "--references", references_file, "--batch-id", batch_id, "--ingest-id", ingest_id,
        "--notifications-url", webhooks.url(hook_path), "--notification-category", "ingest-status",
    )  # fmt: skip

    assert f"Your ingest ID: {ingest_id}" in result.stdout
    emulator.probe.wait_until_indexed(batch_id, expected=len(videos))
    batch = emulator.probe.batch(batch_id)
    assert batch["batchContentType"] == "videos"
    assert {f["fileName"] for f in emulator.probe.files(batch_id)} == set(videos)

    deliveries = webhooks.wait_for(hook_path, lambda found: len(found) >= 1)
    assert deliveries, "no ingest-status notification for the video references ingest"
    notifications = [d.body["notification"] for d in deliveries]
    # Only the ingest-status category was asked for.
    assert {n["type"] for n in notifications} == {"ingest-status-notification-v1"}
    assert all(n["success"] is True for n in notifications)
    assert all(d.body["ingest_id"] == ingest_id for d in deliveries)
    assert all(emulator.publishable_key in (d.authorization or "") for d in deliveries)
