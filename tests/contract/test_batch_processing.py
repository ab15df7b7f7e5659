"""batch-processing commands, and the data-staging commands that read and export job outputs.

One image-stats job over 300 bulk-uploaded images is shared by the module: its results are
checked row by row against what is known about the generated images.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.contract.conftest import EmulatorUnderTest, unique_id
from tests.contract.console_output import printed_dicts, read_jsonl, table_rows, table_value
from tests.contract.media import GeneratedImage, VideoSpec
from tests.contract.results import load_rows, result_files
from tests.contract.webhooks import WebhookReceiver

pytestmark = pytest.mark.contract

TRIGGERED = re.compile(r"Triggered job with ID: (\S+)")


@dataclass(frozen=True)
class FinishedJob:
    job_id: str
    batch_id: str
    images: list[GeneratedImage]
    metadata: dict
    output_batches: dict[str, list[str]]


@pytest.fixture(scope="module")
def stats_job(emulator: EmulatorUnderTest, bulk_images: list[GeneratedImage]) -> FinishedJob:
    """image-stats over the bulk images, image outputs persisted, run to completion."""
    batch_id = unique_id("ct-stats")
    emulator.cli.run(
        "data-staging", "create-batch-of-images", "--images-dir", bulk_images[0].path.parent, "-b", batch_id
    )
    emulator.probe.wait_until_indexed(batch_id, expected=len(bulk_images))
    job_id = unique_id("ct-stats")

    result = emulator.cli.run(
        "batch-processing", "process-images-with-workflow",
        "-b", batch_id, "-w", "image-stats", "-j", job_id,
        "--save-image-outputs", "--image-outputs-to-save", "preview",
        "--aggregation-format", "jsonl", "--machine-size", "s",
    )  # fmt: skip

    triggered = TRIGGERED.search(result.stdout)
    assert triggered is not None and triggered.group(1) == job_id, result.stdout
    # --machine-size is deprecated; the CLI says so and maps "s" to 4 workers per machine.
    assert "Deprecated option `--machine-size` used" in result.stdout
    definition = emulator.probe.job(job_id)["jobDefinition"]
    assert definition["computeConfiguration"] == {"type": "compute-configuration-v2", "workersPerMachine": 4}
    metadata = emulator.probe.wait_for_job(job_id)
    return FinishedJob(job_id, batch_id, bulk_images, metadata, emulator.probe.output_batches(job_id))


def expected_stats(image: GeneratedImage) -> dict:
    return {"width": image.spec.width, "height": image.spec.height, "sha256": image.sha256}


def assert_stats_rows_match(rows: list[dict], images: list[GeneratedImage]) -> None:
    """One row per image, each carrying that image's true size, colour and digest."""
    assert len(rows) == len(images)
    by_name = {row["file_name"]: row for row in rows}
    assert set(by_name) == {image.path.name for image in images}
    for image in images:
        row = by_name[image.path.name]
        assert {k: row[k] for k in ("width", "height", "sha256")} == expected_stats(image), image.spec
        assert row["mean_rgb"] == pytest.approx(list(image.spec.mean_rgb), abs=0.01), image.spec
        assert row["brightness"] == pytest.approx(image.spec.brightness, abs=1.0), image.spec


# -- the shared image-stats job -----------------------------------------------------------------


def test_job_finishes_and_show_job_details_reports_its_stages(
    emulator: EmulatorUnderTest, stats_job: FinishedJob
) -> None:
    assert stats_job.metadata["isTerminal"] is True
    assert stats_job.metadata["error"] is False

    details = emulator.cli.run("batch-processing", "show-job-details", "-j", stats_job.job_id).stdout

    assert f"Batch Job Overview [id={stats_job.job_id}]" in details
    assert "Errors: 🟢 Is Running: 🏁" in details
    assert '"workflowId": "image-stats"' in details
    stages = emulator.probe.stages(stats_job.job_id)
    assert [s["processingStageName"] for s in sorted(stages, key=lambda s: s["startTimestamp"])] == [
        "processing",
        "export",
    ]
    for stage in stages:
        assert f"Stage: {stage['processingStageName']} [{stage['processingStageId']}]" in details
        assert ", ".join(stage["outputBatches"]) in details
        tasks = emulator.probe.tasks(stats_job.job_id, stage["processingStageId"])
        assert len(tasks) == stage["tasksNumber"] >= 1
        assert all(t["statusType"] == "success" for t in tasks)
        # every task finished, all of them successfully
        assert f"🏁: {len(tasks)} (out of {len(tasks)})" in details
        assert f"✅: {len(tasks)}, ❌: 0" in details
    assert details.count("All Good 😃") == len(stages)


def test_list_jobs_shows_the_job(emulator: EmulatorUnderTest, stats_job: FinishedJob) -> None:
    listing = emulator.cli.run("batch-processing", "list-jobs", "--max-pages", "50").stdout

    rows = [cells for cells in table_rows(listing) if cells and cells[0] == stats_job.job_id]
    assert len(rows) == 1
    assert "🏁" in rows[0] and "🟢" in rows[0]


def test_fetch_logs_with_severity_filter_and_output_file(
    emulator: EmulatorUnderTest, stats_job: FinishedJob, tmp_path: Path
) -> None:
    printed = printed_dicts(emulator.cli.run("batch-processing", "fetch-logs", "-j", stats_job.job_id).stdout)
    assert printed, "a finished job has logs"
    assert {log["severity"] for log in printed} <= {"info", "warning", "error"}

    info_file = tmp_path / "info.jsonl"
    emulator.cli.run(
        "batch-processing", "fetch-logs", "-j", stats_job.job_id, "--log-severity", "info", "-o", info_file
    )
    info_logs = read_jsonl(info_file)
    assert info_logs and {log["severity"] for log in info_logs} == {"info"}
    assert len(info_logs) == sum(1 for log in printed if log["severity"] == "info")
    # snake_case keys, as the CLI dumps its own model
    assert {"created_at", "severity", "log_type", "payload"} <= set(info_logs[0])

    error_file = tmp_path / "errors.jsonl"
    emulator.cli.run(
        "batch-processing", "fetch-logs", "-j", stats_job.job_id, "--log-severity", "error", "-o", error_file
    )
    assert read_jsonl(error_file) == []


def test_processing_output_batch_is_multipart_with_results_and_images(
    emulator: EmulatorUnderTest, stats_job: FinishedJob, tmp_path: Path
) -> None:
    (batch_id,) = stats_job.output_batches["processing"]
    parts = {p["partName"]: p for p in emulator.probe.parts(batch_id)}
    image_parts = [name for name, p in parts.items() if p["contentType"] == "images"]
    result_parts = [name for name, p in parts.items() if p["contentType"] != "images"]
    assert len(image_parts) == 1 and result_parts, parts

    details = emulator.cli.run("data-staging", "show-batch-details", "-b", batch_id).stdout
    assert "multipart-batch" in details
    for name in parts:
        (row,) = [cells for cells in table_rows(details) if cells[0] == name]
        assert row[-1] == str(emulator.probe.count(batch_id, name))
    # one persisted preview per image
    assert emulator.probe.count(batch_id, image_parts[0]) == len(stats_job.images)

    listed = printed_dicts(
        emulator.cli.run(
            "data-staging", "list-batch-content", "-b", batch_id, "--part-name", image_parts[0]
        ).stdout
    )
    assert len(listed) == len(stats_job.images)
    assert {entry["part_name"] for entry in listed} == {image_parts[0]}
    capped = printed_dicts(
        emulator.cli.run("data-staging", "list-batch-content", "-b", batch_id, "-l", "7").stdout
    )
    assert len(capped) == 7  # --limit is global across the parts

    target = tmp_path / "processing"
    emulator.cli.run(
        "data-staging", "export-batch", "-b", batch_id, "--target-dir", target,
        *[arg for name in result_parts for arg in ("--part-name", name)],
    )  # fmt: skip
    assert sorted(p.name for p in target.iterdir() if p.is_dir()) == sorted(result_parts)
    assert_stats_rows_match(load_rows(target), stats_job.images)


def test_export_output_batch_archives_extract_to_the_results(
    emulator: EmulatorUnderTest, stats_job: FinishedJob, tmp_path: Path
) -> None:
    (batch_id,) = stats_job.output_batches["export"]
    parts = emulator.probe.parts(batch_id)
    assert parts and all(p["contentType"] == "archives" for p in parts)
    archives = emulator.probe.files(batch_id)
    assert archives and all(f["fileName"].endswith((".tar.gz", ".tar")) for f in archives)

    details = emulator.cli.run("data-staging", "show-batch-details", "-b", batch_id).stdout
    assert "multipart-batch" in details and "archives" in details

    target = tmp_path / "export"
    emulator.cli.run("data-staging", "export-batch", "-b", batch_id, "-t", target)
    rows = load_rows(target)
    assert_stats_rows_match(rows, stats_job.images)
    log_lines = len((target / ".export_log.jsonl").read_text().splitlines())
    assert log_lines == len(archives)

    # Without --override-existing a second export trusts what is already there ...
    damaged = result_files(target)[0]
    damaged.write_text("")
    emulator.cli.run("data-staging", "export-batch", "-b", batch_id, "-t", target)
    assert damaged.read_text() == ""
    # ... with it, every archive is fetched and extracted again.
    emulator.cli.run("data-staging", "export-batch", "-b", batch_id, "-t", target, "--override-existing")
    assert damaged.read_text() != ""
    assert_stats_rows_match(load_rows(target), stats_job.images)


# -- every flag of process-images-with-workflow and process-videos-with-workflow -----------------


def test_process_images_with_every_flag(
    emulator: EmulatorUnderTest, stats_job: FinishedJob, webhooks: WebhookReceiver, tmp_path: Path
) -> None:
    # Input: the preview images part of the image-stats job's multipart output batch.
    (source_batch,) = stats_job.output_batches["processing"]
    parts = {p["partName"]: p for p in emulator.probe.parts(source_batch)}
    (image_part,) = [name for name, p in parts.items() if p["contentType"] == "images"]
    (metadata_part,) = [name for name, p in parts.items() if p["contentType"] != "images"]
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"threshold": 180, "grid": 64}))
    job_id = unique_id("ct-allimg")
    hook_path = f"/jobs/{job_id}"

    result = emulator.cli.run(
        "batch-processing", "process-images-with-workflow",
        "--batch-id", source_batch, "--workflow-id", "bright-spot-detector",
        "--workflow-params", params, "--image-input-name", "image",
        "--save-image-outputs", "--image-outputs-to-save", "visualization",
        "--part-name", image_part, "--images-metadata-part-name", metadata_part,
        "--machine-type", "gpu", "--workers-per-machine", "2", "--machine-size", "xl",
        "--max-runtime-seconds", "600", "--max-parallel-tasks", "3",
        "--max-image-failure-rate", "0.25", "--aggregation-format", "csv",
        "--job-id", job_id, "--notifications-url", webhooks.url(hook_path),
        "--inference-backend", "inference-models", "--job-name", "All image flags",
        "--metadata-mapping", "camera=camera_id", "--metadata-mapping", "site=location",
    )  # fmt: skip

    assert f"Triggered job with ID: {job_id}" in result.stdout
    assert "Deprecated option" not in result.stdout  # --workers-per-machine wins over --machine-size
    job = emulator.probe.job(job_id)
    assert job["name"] == "All image flags"
    assert job["jobDefinition"] == {
        "type": "simple-image-processing-v1",
        "jobInput": {
            "type": "staging-batch-input-v1",
            "batchId": source_batch,
            "partName": image_part,
            "imagesMetadataPart": metadata_part,
        },
        "computeConfiguration": {
            "type": "compute-configuration-v2",
            "machineType": "gpu",
            "workersPerMachine": 2,
        },
        "processingTimeoutSeconds": 600,
        "maxParallelTasks": 3,
        "maxImageFailureRate": 0.25,
        "processingSpecification": {
            "type": "workflows-processing-specification-v1",
            "workspace": emulator.probe.workspace,
            "workflowId": "bright-spot-detector",
            "workflowParameters": {"threshold": 180, "grid": 64},
            "imageInputName": "image",
            "persistImagesOutputs": True,
            "imagesOutputsToBePersisted": ["visualization"],
            "aggregationFormat": "csv",
            "imagesMetadataInputsMapping": {"camera": "camera_id", "site": "location"},
        },
        "notificationsURL": webhooks.url(hook_path),
        "inferenceBackend": "inference-models",
    }

    assert emulator.probe.state()["jobCreations"][job_id] == 1
    finished = emulator.probe.wait_for_job(job_id)
    assert finished["error"] is False, finished
    details = emulator.cli.run("batch-processing", "show-job-details", "-j", job_id).stdout
    assert table_value(details, "Name") == "All image flags"
    assert '"inferenceBackend": "inference-models"' in details
    deliveries = webhooks.wait_for(hook_path, lambda found: any(d.body.get("job_state") for d in found))
    states = [d.body for d in deliveries if d.body.get("type") == "roboflow-batch-job-notification-v1"]
    assert [s["job_state"] for s in states] == ["success"]
    assert states[0]["job_id"] == job_id
    assert all(emulator.publishable_key in (d.authorization or "") for d in deliveries)

    # The detector saw the previews: a bright square where one was drawn, nothing elsewhere.
    target = tmp_path / "detections"
    (export_batch,) = emulator.probe.output_batches(job_id)["export"]
    emulator.cli.run("data-staging", "export-batch", "-b", export_batch, "-t", target)
    rows = {Path(row["file_name"]).name: row for row in load_rows(target)}
    assert len(rows) == len(stats_job.images)
    for image in stats_job.images:
        preview = next(name for name in rows if name.startswith(image.path.stem + "-"))
        predictions = rows[preview]["predictions"]["predictions"]
        if image.spec.spot_centre is None:
            assert predictions == [], preview
        else:
            (spot,) = predictions
            assert (spot["x"], spot["y"]) == pytest.approx(image.spec.spot_centre, abs=3), preview


def test_process_videos_with_every_flag(
    emulator: EmulatorUnderTest,
    videos: dict[str, tuple[VideoSpec, Path]],
    webhooks: WebhookReceiver,
    tmp_path: Path,
) -> None:
    batch_id = unique_id("ct-vjob")
    directory = next(iter(videos.values()))[1].parent
    emulator.cli.run("data-staging", "create-batch-of-videos", "-v", directory, "-b", batch_id)
    params = tmp_path / "params.json"
    params.write_text("{}")
    job_id = unique_id("ct-allvid")
    hook_path = f"/jobs/{job_id}"

    result = emulator.cli.run(
        "batch-processing", "process-videos-with-workflow",
        "--batch-id", batch_id, "--workflow-id", "image-stats",
        "--workflow-params", params, "--image-input-name", "image",
        "--no-save-image-outputs", "--image-outputs-to-save", "preview",
        "--machine-type", "cpu", "--workers-per-machine", "1", "--machine-size", "m",
        "--max-runtime-seconds", "300", "--max-parallel-tasks", "2",
        "--aggregation-format", "jsonl", "--max-video-fps", "5",
        "--job-id", job_id, "--notifications-url", webhooks.url(hook_path),
        "--inference-backend", "old-inference", "--job-name", "All video flags",
    )  # fmt: skip

    assert f"Triggered job with ID: {job_id}" in result.stdout
    job = emulator.probe.job(job_id)
    assert job["name"] == "All video flags"
    assert job["jobDefinition"] == {
        "type": "simple-video-processing-v1",
        "jobInput": {"type": "staging-batch-input-v1", "batchId": batch_id},
        "computeConfiguration": {
            "type": "compute-configuration-v2",
            "machineType": "cpu",
            "workersPerMachine": 1,
        },
        "processingTimeoutSeconds": 300,
        "maxParallelTasks": 2,
        "processingSpecification": {
            "type": "workflows-processing-specification-v1",
            "workspace": emulator.probe.workspace,
            "workflowId": "image-stats",
            "workflowParameters": {},
            "imageInputName": "image",
            "persistImagesOutputs": False,
            "imagesOutputsToBePersisted": ["preview"],
            "aggregationFormat": "jsonl",
            "maxVideoFPS": 5,
        },
        "notificationsURL": webhooks.url(hook_path),
        "inferenceBackend": "old-inference",
    }

    finished = emulator.probe.wait_for_job(job_id)
    assert finished["error"] is False, finished
    deliveries = webhooks.wait_for(hook_path, lambda found: len(found) >= 1)
    assert [d.body["job_state"] for d in deliveries] == ["success"]

    target = tmp_path / "video-results"
    (export_batch,) = emulator.probe.output_batches(job_id)["export"]
    emulator.cli.run("data-staging", "export-batch", "-b", export_batch, "-t", target)
    rows = load_rows(target)
    # One row per frame sampled at 5 fps, each frame the size of its video.
    for name, (spec, _) in videos.items():
        frames = sorted((r for r in rows if r["file_name"] == name), key=lambda r: r["frame_number"])
        assert len(frames) == spec.sampled_frames(5), name
        assert {(r["width"], r["height"]) for r in frames} == {(spec.width, spec.height)}
        assert [r["timestamp"] for r in frames] == pytest.approx(
            [i / 5 for i in range(len(frames))], abs=0.01
        )
        assert frames[0]["mean_rgb"] == pytest.approx(list(spec.colour), abs=6)
    assert len(rows) == sum(spec.sampled_frames(5) for spec, _ in videos.values())


# -- abort and restart: a slower emulator, so the job is caught while it runs --------------------


def test_abort_running_job_then_restart_with_overrides(
    slow_emulator: EmulatorUnderTest, simple_images: list[GeneratedImage]
) -> None:
    batch_id = unique_id("ct-abort")
    for image in simple_images[:4]:
        slow_emulator.probe.upload_image(batch_id, image.path)
    job_id = unique_id("ct-abort")
    slow_emulator.cli.run(
        "batch-processing", "process-images-with-workflow", "-b", batch_id, "-w", "image-stats", "-j", job_id
    )
    slow_emulator.probe.wait_for_stage(job_id, "processing")

    aborted = slow_emulator.cli.run("batch-processing", "abort-job", "-j", job_id)

    assert aborted.stdout.strip().startswith("{")
    job = slow_emulator.probe.wait_for_job(job_id, timeout=10)
    assert (job["isTerminal"], job["error"]) == (True, True)
    details = slow_emulator.cli.run("batch-processing", "show-job-details", "-j", job_id).stdout
    assert "Errors: 🚨 Is Running: 🏁" in details

    restarted = slow_emulator.cli.run(
        "batch-processing", "restart-job", "-j", job_id,
        "--machine-type", "gpu", "--workers-per-machine", "2", "--max-runtime-seconds", "900",
        "--max-parallel-tasks", "4", "--max-image-failure-rate", "0.5",
    )  # fmt: skip

    assert restarted.stdout.strip().startswith("{")
    job = slow_emulator.probe.job(job_id)
    assert job["isTerminal"] is False
    assert job["restartParametersOverride"][-1] == {
        "type": "parameters-override-v1",
        "computeConfiguration": {
            "type": "compute-configuration-v2",
            "machineType": "gpu",
            "workersPerMachine": 2,
        },
        "maxParallelTasks": 4,
        "processingTimeoutSeconds": 900,
        "maxImageFailureRate": 0.5,
    }
    details = slow_emulator.cli.run("batch-processing", "show-job-details", "-j", job_id).stdout
    assert "Restart parameters override" in details
    # The job runs again, this time to a successful end.
    job = slow_emulator.probe.wait_for_job(job_id, timeout=30)
    assert (job["isTerminal"], job["error"]) == (True, False)
    (export_batch,) = slow_emulator.probe.output_batches(job_id)["export"]
    assert slow_emulator.probe.count(export_batch) >= 1
    details = slow_emulator.cli.run("batch-processing", "show-job-details", "-j", job_id).stdout
    assert table_value(details, "Status") == "Errors: 🟢 Is Running: 🏁"


def test_list_jobs_pages_by_ten(emulator: EmulatorUnderTest, simple_images: list[GeneratedImage]) -> None:
    batch_id = unique_id("ct-jobs")
    emulator.probe.upload_image(batch_id, simple_images[0].path)
    for _ in range(11):
        emulator.probe.create_image_job(unique_id("ct-many"), batch_id, "image-stats")
    known = {job["jobId"] for job in emulator.probe.all_jobs()}
    assert len(known) >= 11

    def listed(*args: str) -> list[str]:
        stdout = emulator.cli.run("batch-processing", "list-jobs", *args).stdout
        assert "Batch Jobs Overview" in stdout
        return [cells[0] for cells in table_rows(stdout) if cells and cells[0] in known]

    # The CLI asks for pages of 10 and stops after --max-pages pages.
    assert len(listed()) == 10
    assert len(listed("--max-pages", "2")) == min(20, len(known))
    assert set(listed("-p", "100")) == known


def test_failed_job_reports_why_and_restarts_without_overrides(
    emulator: EmulatorUnderTest, simple_images: list[GeneratedImage], tmp_path: Path
) -> None:
    batch_id = unique_id("ct-fail")
    emulator.probe.upload_image(batch_id, simple_images[0].path)
    # Without --job-id the CLI makes one up: "job-" and 12 random characters, new every time.
    triggered = [
        TRIGGERED.search(
            emulator.cli.run(
                "batch-processing", "process-images-with-workflow", "-b", batch_id, "-w", "no-such-workflow"
            ).stdout
        )
        for _ in range(2)
    ]
    job_id, other_job_id = (match.group(1) if match else "" for match in triggered)
    assert re.fullmatch(r"job-[a-z0-9]{12}", job_id) and job_id != other_job_id

    job = emulator.probe.wait_for_job(job_id)

    assert job["error"] is True
    details = emulator.cli.run("batch-processing", "show-job-details", "-j", job_id).stdout
    assert table_value(details, "Status") == "Errors: 🚨 Is Running: 🏁"
    assert "no-such-workflow" in details
    errors_file = tmp_path / "errors.jsonl"
    emulator.cli.run(
        "batch-processing", "fetch-logs", "-j", job_id, "--log-severity", "error", "-o", errors_file
    )
    errors = read_jsonl(errors_file)
    assert errors and all(log["severity"] == "error" for log in errors)
    assert any("no-such-workflow" in json.dumps(log["payload"]) for log in errors)

    restarts_before = emulator.probe.state()["jobs"][job_id]["restarts"]
    restarted = emulator.cli.run("batch-processing", "restart-job", "-j", job_id)

    assert restarted.stdout.strip().startswith("{")
    assert emulator.probe.state()["jobs"][job_id]["restarts"] == restarts_before + 1
    # No override flags: nothing is recorded as an override, and the job runs (and fails) again.
    assert emulator.probe.job(job_id)["restartParametersOverride"] == []
    job = emulator.probe.wait_for_job(job_id)
    assert job["error"] is True
