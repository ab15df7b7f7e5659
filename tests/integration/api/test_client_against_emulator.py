"""Every endpoint against the emulator over real HTTP, for the sync and the async client."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from include.roboflow_batch.api import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    RestartOverrides,
    UnauthorizedError,
    WorkflowJobSpec,
)
from include.roboflow_batch.api.ids import derive_ingest_id
from include.roboflow_emulator.testing import EmulatorHandle
from tests.integration.api.conftest import api_requests, mp4, png, wait_for
from tests.unit.api.client_drivers import ClientDriver, make_client

pytestmark = pytest.mark.integration

DS = "/data-staging/v1/external/{workspace}/batches/{batchId}"
BP = "/batch-processing/v1/external/{workspace}/jobs/{jobId}"
# Only the sync client moves files (workers do; the triggerer only polls).
SYNC_ONLY = pytest.mark.parametrize("live", ["sync"], indirect=True)


async def _stage_images(live: ClientDriver, batch_id: str, count: int) -> dict[str, bytes]:
    images = {f"img{i}.png": png(i) for i in range(count)}
    for name, content in images.items():
        await live.call("upload_image", batch_id, name, content)
    return images


async def _wait_for_count(live: ClientDriver, batch_id: str, expected: int) -> None:
    async def ready() -> bool:
        return await live.call("count_batch", batch_id) == expected

    await wait_for(ready)


async def _wait_until_terminal(live: ClientDriver, job_id: str):  # type: ignore[no-untyped-def]
    job = None

    async def terminal() -> bool:
        nonlocal job
        job = await live.call("get_job", job_id)
        return job.is_terminal

    await wait_for(terminal)
    return job


async def test_workspace_lookup(live: ClientDriver, emulator: EmulatorHandle) -> None:
    assert await live.call("get_workspace") == emulator.workspace


@SYNC_ONLY
async def test_simple_upload_listing_and_download(live: ClientDriver, tmp_path: Path) -> None:
    images = await _stage_images(live, "simple-b", 5)
    await _wait_for_count(live, "simple-b", 5)

    batch = await live.call("get_batch", "simple-b")
    listed = await live.call("iter_batches", page_size=1)
    files = await live.call("iter_batch_files", "simple-b", page_size=2)  # three pages

    assert (batch.batch_type, batch.batch_content_type) == ("simple-batch", "images")
    assert batch.expiry_date > batch.created_date
    assert "simple-b" in [b.batch_id for b in listed]
    assert sorted(f.file_name for f in files) == sorted(images)
    for file in files:
        written = await live.call("download_file", file.download_url, tmp_path / file.file_name)
        assert (tmp_path / file.file_name).read_bytes() == images[file.file_name]
        assert written == len(images[file.file_name])


@SYNC_ONLY
async def test_bulk_tar_upload_is_indexed_into_shards(live: ClientDriver, tmp_path: Path) -> None:
    archive = tmp_path / "shard.tar"
    with tarfile.open(archive, "w") as tar:
        for i in range(4):
            data = png(i)
            info = tarfile.TarInfo(f"bulk{i}.png")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

    details = await live.call("request_bulk_image_upload", "bulk-b", display_name="Bulk")
    sent = await live.call("upload_file", details, archive)
    await _wait_for_count(live, "bulk-b", 4)
    shards = await live.call("iter_shards", "bulk-b", page_size=1)

    assert sent == archive.stat().st_size
    assert [s.status_type for s in shards] == ["success"]
    assert shards[0].status_metadata["ingestedFiles"] == 4
    assert (await live.call("get_batch", "bulk-b")).display_name == "Bulk"


@SYNC_ONLY
async def test_video_upload_through_a_signed_url(live: ClientDriver, tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(2048))

    details = await live.call("request_video_upload", "video-b", "clip.mp4")
    await live.call("upload_file", details, video)
    await _wait_for_count(live, "video-b", 1)

    (file,) = await live.call("iter_batch_files", "video-b")
    assert (file.file_name, file.content_type) == ("clip.mp4", "videos")


async def test_reference_ingests_report_per_file_failures_and_deduplicate(
    live: ClientDriver, file_server: tuple[str, Path]
) -> None:
    base, root = file_server
    for i in range(3):
        (root / f"ref{i}.png").write_bytes(png(i))
    references = [{"name": f"ref{i}.png", "url": f"{base}/ref{i}.png"} for i in range(3)]
    references.append({"name": "gone.png", "url": f"{base}/gone.png"})
    ingest_id = derive_ingest_id("refs-b", "chunk", 0)

    first = await live.call("ingest_image_references", "refs-b", ingest_id=ingest_id, references=references)
    await _wait_for_count(live, "refs-b", 3)
    again = await live.call("ingest_image_references", "refs-b", ingest_id=ingest_id, references=references)
    shards = await live.call("iter_shards", "refs-b")

    assert (first.ingest_id, first.duplicated, again.duplicated) == (ingest_id, False, True)
    assert first.shard_ids and sorted(again.shard_ids) == sorted(first.shard_ids)
    failed = [f for s in shards for f in s.status_metadata["failedFiles"]]
    assert [(f["fileName"], f["type"]) for f in failed] == [("gone.png", "file-not-reachable")]
    assert await live.call("count_batch", "refs-b") == 3


async def test_video_references_from_a_jsonl_url(live: ClientDriver, file_server: tuple[str, Path]) -> None:
    base, root = file_server
    (root / "v.mp4").write_bytes(mp4())
    (root / "refs.jsonl").write_text(json.dumps({"name": "v.mp4", "url": f"{base}/v.mp4"}) + "\n")

    result = await live.call(
        "ingest_video_references", "vrefs-b", ingest_id="vrefs-0", references_url=f"{base}/refs.jsonl"
    )
    await _wait_for_count(live, "vrefs-b", 1)

    assert result.ingest_id == "vrefs-0" and not result.duplicated


async def test_roboql_ingest_copies_matching_images(live: ClientDriver) -> None:
    await _stage_images(live, "source-b", 3)
    await _wait_for_count(live, "source-b", 3)

    await live.call("roboql_ingest", "query-b", "batch:source-b name:img[01].png", ingest_id="q-0")

    await _wait_for_count(live, "query-b", 2)


@SYNC_ONLY
async def test_job_lifecycle_and_export(live: ClientDriver, emulator: EmulatorHandle, tmp_path: Path) -> None:
    await _stage_images(live, "job-in", 3)
    await _wait_for_count(live, "job-in", 3)
    workspace = await live.call("get_workspace")
    spec = WorkflowJobSpec(batch_id="job-in", workflow_id="image-stats", aggregation_format="jsonl")

    await live.call("create_job", "job-one", spec.to_body(workspace), name="Nightly stats")
    await live.call("create_job", "job-one", spec.to_body(workspace), name="Nightly stats")  # a retry: no-op
    with pytest.raises(ConflictError) as conflict:
        other = WorkflowJobSpec(batch_id="job-in", workflow_id="bright-spot-detector")
        await live.call("create_job", "job-one", other.to_body(workspace))
    job = await _wait_until_terminal(live, "job-one")

    assert conflict.value.status_code == 409
    assert emulator.state()["jobCreations"] == {"job-one": 1}
    assert (job.succeeded, job.name) == (True, "Nightly stats")
    assert job.job_definition == spec.to_body(workspace)
    assert "job-one" in [j.job_id for j in await live.call("iter_jobs", page_size=1)]

    stages = await live.call("list_job_stages", "job-one")
    assert [s.processing_stage_name for s in stages] == ["processing", "export"]
    tasks = await live.call("iter_stage_tasks", "job-one", stages[0].processing_stage_id)
    assert tasks and all(t.status_type == "success" for t in tasks)
    logs = await live.call("iter_job_logs", "job-one")
    assert logs and {log.severity for log in logs} <= {"info", "warning", "error"}
    assert await live.call("iter_job_logs", "job-one", severity="error") == []

    (export_batch,) = stages[1].output_batches
    (part,) = await live.call("list_batch_parts", export_batch)
    assert part.content_type == "archives"
    assert await live.call("count_batch", export_batch, part_name=part.part_name) >= 1
    rows = []
    for file in await live.call("iter_batch_files", export_batch, part_name=part.part_name):
        target = tmp_path / file.file_name
        await live.call("download_file", file.download_url, target)
        with tarfile.open(target) as archive:
            for member in archive.getmembers():
                if member.isfile():
                    rows += archive.extractfile(member).read().decode().splitlines()
    assert len(rows) == 3


async def test_abort_then_restart_with_overrides(live: ClientDriver, emulator: EmulatorHandle) -> None:
    await _stage_images(live, "abort-in", 2)
    await _wait_for_count(live, "abort-in", 2)
    workspace = await live.call("get_workspace")
    body = WorkflowJobSpec(batch_id="abort-in", workflow_id="image-stats").to_body(workspace)
    await live.call("create_job", "job-abort", body)

    aborted = await live.call("abort_job", "job-abort")
    job = await _wait_until_terminal(live, "job-abort")
    assert isinstance(aborted, dict)
    assert (job.is_terminal, job.error) == (True, True)

    restarted = await live.call(
        "restart_job", "job-abort", RestartOverrides(machine_type="gpu", max_parallel_tasks=2)
    )
    job = await live.call("get_job", "job-abort")
    assert isinstance(restarted, dict)
    assert job.restart_parameters_override[-1]["maxParallelTasks"] == 2
    assert emulator.state()["jobs"]["job-abort"]["restarts"] == 1
    assert (await _wait_until_terminal(live, "job-abort")).succeeded


async def test_documented_errors_are_typed_and_not_retried(
    live: ClientDriver, emulator: EmulatorHandle
) -> None:
    with pytest.raises(NotFoundError) as missing_batch:
        await live.call("get_batch", "no-such-batch")
    with pytest.raises(NotFoundError):
        await live.call("get_job", "no-such-job")
    with pytest.raises(BadRequestError) as bad_query:
        await live.call("roboql_ingest", "q-b", "colour:red")

    requests = api_requests(emulator)
    assert "no-such-batch" in missing_batch.value.message
    assert "Unsupported RoboQL term" in bad_query.value.message
    assert requests[f"GET {DS}"] == 1
    assert requests[f"GET {BP}"] == 1
    assert requests[f"POST {DS}/roboql-ingest"] == 1


async def test_a_wrong_key_fails_at_once(emulator: EmulatorHandle) -> None:
    for kind in ("sync", "async"):
        emulator.reset()
        driver = make_client(kind, emulator.base_url, "not-a-valid-key", key_source="Airflow connection 'rf'")
        with pytest.raises(UnauthorizedError) as caught:
            await driver.call("count_batch", "b")
        await driver.close()

        assert "the API key from Airflow connection 'rf' was rejected" in str(caught.value)
        assert api_requests(emulator) == {"GET /": 1}
