"""data-staging commands on image batches: simple uploads, bulk tars, signed-URL references."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from tests.contract.conftest import EmulatorUnderTest, S3Bucket, unique_id, write_references
from tests.contract.console_output import first_column, printed_dicts, read_jsonl, table_value
from tests.contract.media import GeneratedImage, image_specs, write_images
from tests.contract.webhooks import WebhookReceiver

pytestmark = pytest.mark.contract


def sha256_of_url(url: str) -> str:
    response = httpx.get(url, timeout=10.0)
    response.raise_for_status()
    return hashlib.sha256(response.content).hexdigest()


def test_directory_of_few_images_becomes_a_simple_batch(
    emulator: EmulatorUnderTest, simple_images: list[GeneratedImage], tmp_path: Path
) -> None:
    batch_id = unique_id("ct-simple")
    directory = simple_images[0].path.parent

    result = emulator.cli.run(
        "data-staging", "create-batch-of-images",
        "--images-dir", directory, "--batch-id", batch_id, "--batch-name", "Simple images",
        "--notifications-url", "http://127.0.0.1:9/ignored",
    )  # fmt: skip

    # <= 32 images are uploaded one by one, and the CLI says the webhook URL does not apply.
    assert "notification URL will be ignored" in result.stdout
    batch = emulator.probe.batch(batch_id)
    assert batch["batchType"] == "simple-batch"
    assert batch["batchContentType"] == "images"
    assert batch["displayName"] == "Simple images"
    assert emulator.probe.count(batch_id) == len(simple_images)
    staged = {f["fileName"]: f for f in emulator.probe.files(batch_id)}
    assert set(staged) == {image.path.name for image in simple_images}
    for image in simple_images[:3]:
        assert sha256_of_url(staged[image.path.name]["downloadURL"]) == image.sha256

    details = emulator.cli.run("data-staging", "show-batch-details", "--batch-id", batch_id).stdout
    assert f"Staging Batch Overview [id={batch_id}]" in details
    assert table_value(details, "Name") == "Simple images"
    assert "simple-batch" in details and "images" in details
    assert table_value(details, "Files Count") == str(len(simple_images))

    listed = printed_dicts(emulator.cli.run("data-staging", "list-batch-content", "-b", batch_id).stdout)
    assert {entry["file_name"] for entry in listed} == set(staged)
    assert all(entry["content_type"] == "images" for entry in listed)

    limited = printed_dicts(
        emulator.cli.run("data-staging", "list-batch-content", "-b", batch_id, "--limit", "5").stdout
    )
    assert len(limited) == 5

    output = tmp_path / "content.jsonl"
    emulator.cli.run("data-staging", "list-batch-content", "-b", batch_id, "-o", output)
    dumped = read_jsonl(output)
    assert {entry["file_name"] for entry in dumped} == set(staged)
    # The CLI writes its own snake_case keys, not the API's camelCase ones.
    assert set(dumped[0]) >= {"download_url", "file_name", "content_type"}

    # Exporting a simple batch gives back exactly the files that were uploaded.
    target = tmp_path / "export"
    emulator.cli.run("data-staging", "export-batch", "-b", batch_id, "--target-dir", target)
    exported = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in target.iterdir() if p.suffix == ".png"
    }
    assert exported == {image.path.name: image.sha256 for image in simple_images}

    # A simple batch has no parts: asking for one is the CLI's own, clear error.
    refused = emulator.cli.run(
        "data-staging", "list-batch-content", "-b", batch_id, "--part-name", "x", check=False
    )
    assert refused.returncode == 1
    assert "not multipart-batch" in refused.stdout


def test_directory_of_many_images_is_uploaded_as_tar_shards(
    emulator: EmulatorUnderTest, bulk_images: list[GeneratedImage], tmp_path: Path
) -> None:
    batch_id = unique_id("ct-bulk")

    emulator.cli.run(
        "data-staging",
        "create-batch-of-images",
        "--images-dir",
        bulk_images[0].path.parent,
        "--batch-id",
        batch_id,
    )

    shards = emulator.probe.wait_until_indexed(batch_id, expected=len(bulk_images))
    # The CLI packs 256 images per tar: 300 images make two shards, all indexed.
    assert sorted(s["shardObjectsCount"] for s in shards) == [len(bulk_images) - 256, 256]
    assert {s["statusType"] for s in shards} == {"success"}
    assert emulator.probe.batch(batch_id)["batchType"] == "sharded-batch"
    staged = {f["fileName"] for f in emulator.probe.files(batch_id)}
    assert staged == {image.path.name for image in bulk_images}

    details = emulator.cli.run("data-staging", "show-batch-details", "-b", batch_id).stdout
    assert "sharded-batch" in details
    assert table_value(details, "Files Count") == str(len(bulk_images))

    output = tmp_path / "shards.jsonl"
    emulator.cli.run("data-staging", "list-ingest-details", "-b", batch_id, "-o", output, "--page-size", "1")
    dumped = read_jsonl(output)
    assert sorted(d["shard_id"] for d in dumped) == sorted(s["shardId"] for s in shards)
    assert sum(d["status_metadata"]["ingestedFiles"] for d in dumped) == len(bulk_images)
    assert all(d["status_metadata"]["failedFiles"] == [] for d in dumped)

    printed = printed_dicts(emulator.cli.run("data-staging", "list-ingest-details", "-b", batch_id).stdout)
    assert {p["shard_id"] for p in printed} == {s["shardId"] for s in shards}
    assert {p["status_type"] for p in printed} == {"success"}


def test_bulk_upload_with_notifications_keeps_every_tar(
    emulator: EmulatorUnderTest, bulk_images: list[GeneratedImage], webhooks: WebhookReceiver
) -> None:
    batch_id = unique_id("ct-bulkhook")
    ingest_id = unique_id("ingest-bulk")
    hook_path = f"/ingest/{batch_id}"

    emulator.cli.run(
        "data-staging", "create-batch-of-images",
        "--images-dir", bulk_images[0].path.parent, "--batch-id", batch_id,
        "--ingest-id", ingest_id, "--notifications-url", webhooks.url(hook_path),
    )  # fmt: skip

    # The CLI writes the same ingest id into the notification_config.json of every tar it uploads:
    # each tar is still a shard of its own, and no image is lost.
    shards = emulator.probe.wait_until_indexed(batch_id, expected=len(bulk_images))
    assert sorted(s["shardObjectsCount"] for s in shards) == [len(bulk_images) - 256, 256]
    assert {s["statusMetadata"]["ingestId"] for s in shards} == {ingest_id}
    # The webhook names our ingest id and is authenticated with the workspace's publishable key.
    deliveries = webhooks.wait_for(hook_path, lambda found: len(found) >= 1)
    assert deliveries, "no ingest notification was delivered for the sharded upload"
    assert all(d.body["ingest_id"] == ingest_id for d in deliveries)
    assert all(d.body["batch_id"] == batch_id for d in deliveries)
    assert all(emulator.publishable_key in (d.authorization or "") for d in deliveries)


def test_references_file_of_presigned_s3_urls(
    emulator: EmulatorUnderTest,
    s3_bucket: S3Bucket,
    webhooks: WebhookReceiver,
    media_root: Path,
    tmp_path: Path,
) -> None:
    batch_id = unique_id("ct-refs")
    ingest_id = unique_id("ingest-refs")
    hook_path = f"/ingest/{batch_id}"
    images = write_images(image_specs(6, prefix="ref"), media_root / "references")
    references = []
    for image in images:
        key = f"refs/{image.path.name}"
        s3_bucket.put(key, image.path)
        references.append({"name": image.path.name, "url": s3_bucket.presign(key)})
    # Files that must fail one by one, each for its own reason.
    oversized = tmp_path / "oversized.png"
    oversized.write_bytes(b"\0" * (20 * 1024 * 1024 + 1))  # one byte over the 20 MiB limit
    s3_bucket.put("refs/oversized.png", oversized)
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    s3_bucket.put("refs/notes.txt", notes)
    references += [
        {"name": "missing.png", "url": s3_bucket.presign("refs/missing.png")},
        {"name": "foreign.png", "url": "https://images.example.invalid/foreign.png"},
        {"name": "oversized.png", "url": s3_bucket.presign("refs/oversized.png")},
        {"name": "notes.txt", "url": s3_bucket.presign("refs/notes.txt")},
    ]
    expected_failures = {
        "missing.png": "file-not-reachable",
        "foreign.png": "unsafe-url-detected",
        "oversized.png": "file-size-limit-exceeded",
        "notes.txt": "unsupported-file-type",
    }
    references_file = write_references(tmp_path / "references.jsonl", references)

    result = emulator.cli.run(
        "data-staging", "create-batch-of-images", "--data-source", "references-file",
        "--references", references_file, "--batch-id", batch_id, "--ingest-id", ingest_id,
        "--notifications-url", webhooks.url(hook_path),
        "--notification-category", "ingest-status", "--notification-category", "files-status",
    )  # fmt: skip

    assert f"Your ingest ID: {ingest_id}" in result.stdout
    assert f"System will create the following shards in batch {batch_id}" in result.stdout
    assert f"Monitor updates that will be sent to: {webhooks.url(hook_path)}" in result.stdout

    shards = emulator.probe.wait_until_indexed(batch_id, expected=len(images))
    staged = {f["fileName"]: f for f in emulator.probe.files(batch_id)}
    assert set(staged) == {image.path.name for image in images}
    assert sha256_of_url(staged[images[0].path.name]["downloadURL"]) == images[0].sha256
    failed = {f["fileName"]: f["type"] for s in shards for f in s["statusMetadata"]["failedFiles"]}
    assert failed == expected_failures
    assert {s["statusType"] for s in shards} == {"warning"}

    # Both categories were asked for: the overall ingest status and the per-file report.
    def both_categories(found: list) -> bool:
        types = {d.body["notification"]["type"] for d in found}
        return {"ingest-status-notification-v1", "ingest-files-status-notification-v1"} <= types

    deliveries = webhooks.wait_for(hook_path, both_categories)
    assert both_categories(deliveries), [d.body for d in deliveries]
    assert all(emulator.publishable_key in (d.authorization or "") for d in deliveries)
    files_reports = [
        d.body["notification"]
        for d in deliveries
        if d.body["notification"]["type"] == "ingest-files-status-notification-v1"
    ]
    reported_ingested = {name for report in files_reports for name in report["ingested_files"]}
    reported_failed = {f["file_name"] for report in files_reports for f in report["failed_files"]}
    assert reported_ingested == set(staged)
    assert reported_failed == set(expected_failures)

    # Sending the same references again under the same ingest id is recognised as a repeat.
    again = emulator.cli.run(
        "data-staging", "create-batch-of-images", "-ds", "references-file",
        "-r", references_file, "-b", batch_id, "-i", ingest_id,
    )  # fmt: skip
    assert "Your request was deduplicated" in again.stdout
    assert emulator.probe.count(batch_id) == len(images)


def test_list_batches_pages_through_the_workspace(emulator: EmulatorUnderTest, tmp_path: Path) -> None:
    # Enough batches for several pages, whatever the other tests created.
    for index in range(5):
        image = write_images(image_specs(1, prefix=f"page{index}"), tmp_path / f"b{index}")[0]
        emulator.probe.upload_image(unique_id("ct-page"), image.path)

    def known() -> set[str]:
        return {b["batchId"] for b in emulator.probe.all_batches()}

    def listed(*args: str) -> list[str]:
        stdout = emulator.cli.run("data-staging", "list-batches", *args).stdout
        assert "Roboflow Data Staging Batches" in stdout
        ids = known()
        return [cell for cell in first_column(stdout) if cell in ids]

    assert len(listed("--pages", "2", "--page-size", "2")) == 4
    assert len(listed("--page-size", "3")) == 3
    assert len(listed("--pages", "3", "--page-size", "1")) == 3
    # Jobs of earlier tests may still be adding output batches: compare with before and after.
    before = known()
    everything = listed("--pages", "100", "--page-size", "50")
    assert before <= set(everything) <= known()
    assert len(everything) == len(set(everything))  # no batch listed twice across pages


def test_roboql_query_selects_images_of_staged_batches(
    emulator: EmulatorUnderTest, simple_images: list[GeneratedImage], webhooks: WebhookReceiver
) -> None:
    source = unique_id("ct-rql-src")
    for image in simple_images:
        emulator.probe.upload_image(source, image.path)
    batch_id = unique_id("ct-rql")
    ingest_id = unique_id("ingest-rql")
    hook_path = f"/ingest/{batch_id}"

    result = emulator.cli.run(
        "data-staging", "create-batch-of-images", "--data-source", "roboql",
        "--query", f"batch:{source} name:simple-00*", "--batch-id", batch_id, "--batch-name", "From RoboQL",
        "--ingest-id", ingest_id, "--notifications-url", webhooks.url(hook_path),
    )  # fmt: skip

    assert f"RoboQL ingest accepted for batch '{batch_id}'" in result.stdout
    selected = {image.path.name for image in simple_images if image.path.name.startswith("simple-00")}
    emulator.probe.wait_until_indexed(batch_id, expected=len(selected))
    assert {f["fileName"] for f in emulator.probe.files(batch_id)} == selected
    assert emulator.probe.batch(batch_id)["displayName"] == "From RoboQL"
    deliveries = webhooks.wait_for(hook_path, lambda found: len(found) >= 1)
    assert [d.body["ingest_id"] for d in deliveries] == [ingest_id]
    assert deliveries[0].body["notification"]["success"] is True


def test_large_references_file_is_ingested_in_chunks(
    emulator: EmulatorUnderTest, s3_bucket: S3Bucket, media_root: Path, tmp_path: Path
) -> None:
    batch_id = unique_id("ct-chunks")
    ingest_id = unique_id("ingest-chunks")
    images = write_images(image_specs(5, prefix="chunk"), media_root / "chunks")
    references = []
    for image in images:
        s3_bucket.put(f"chunks/{image.path.name}", image.path)
        references.append({"name": image.path.name, "url": s3_bucket.presign(f"chunks/{image.path.name}")})
    references_file = write_references(tmp_path / "references.jsonl", references)

    # The chunk size is an environment setting of the CLI (20,000 by default).
    result = emulator.cli.run(
        "data-staging", "create-batch-of-images", "-ds", "references-file",
        "-r", references_file, "-b", batch_id, "-i", ingest_id,
        env={"MAX_IMAGE_REFERENCES_IN_INGEST_REQUEST": "2"},
    )  # fmt: skip

    assert "we split the ingest into 3 chunks" in result.stdout
    # The CLI extends the ingest id cumulatively per chunk; each chunk is an ingest of its own.
    chunk_ids = [f"{ingest_id}-0", f"{ingest_id}-0-1", f"{ingest_id}-0-1-2"]
    assert [
        line.removeprefix("Your ingest ID: ") for line in result.stdout.splitlines() if "ingest ID" in line
    ] == (chunk_ids)
    shards = emulator.probe.wait_until_indexed(batch_id, expected=len(images))
    assert {s["statusMetadata"]["ingestId"] for s in shards} == set(chunk_ids)
    assert {f["fileName"] for f in emulator.probe.files(batch_id)} == {image.path.name for image in images}
