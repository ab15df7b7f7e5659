"""Batch Processing behaviour: job lifecycle, outputs, validation, abort/restart, limits, webhooks."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from include.roboflow_emulator.app import Emulator
from tests.unit.emulator.conftest import BP, DS, Api, WebhookReceiver, mp4, png


def job_body(batch_id: str, workflow_id: str = "image-stats", **extra: Any) -> dict[str, Any]:
    spec = {
        "type": "workflows-processing-specification-v1",
        "workspace": "demo-workspace",
        "workflowId": workflow_id,
        "persistImagesOutputs": False,
    }
    spec.update(extra.pop("spec", {}))
    return {
        "type": "simple-image-processing-v1",
        "jobInput": {"type": "staging-batch-input-v1", "batchId": batch_id},
        "computeConfiguration": {"type": "compute-configuration-v2"},
        "processingSpecification": spec,
        **extra,
    }


def stage_images(api: Api, batch_id: str, images: dict[str, bytes]) -> None:
    for name, content in images.items():
        response = api.post(
            f"{DS}/batches/{batch_id}/upload/image", params={"fileName": name}, files={name: content}
        )
        assert response.status_code == 200, response.text


def download_all(api: Api, batch_id: str, part: str) -> dict[str, bytes]:
    listing = api.get(f"{DS}/batches/{batch_id}/list", params={"partName": part}).json()["filesMetadata"]
    return {f["fileName"]: httpx.get(f["downloadURL"]).content for f in listing}


def test_job_runs_processing_then_export_with_real_results(api: Api) -> None:
    images = {"red.png": png(color=(255, 0, 0)), "grey.png": png(8, 4, (100, 100, 100))}
    stage_images(api, "in", images)
    assert api.post(f"{BP}/jobs/job-1", json=job_body("in"), params={"name": "First"}).status_code == 200
    created = api.get(f"{BP}/jobs/job-1").json()["job"]
    assert created["name"] == "First" and created["plannedStages"] == ["processing", "export"]
    job = api.wait_job("job-1")
    assert job["error"] is False and job["lastNotification"]["resultsBatches"] == ["job-1-export"]
    stages = api.get(f"{BP}/jobs/job-1/stages").json()["stages"]
    assert [s["processingStageId"] for s in stages] == ["processing", "export"]
    assert [s["outputBatches"] for s in stages] == [["job-1-processing"], ["job-1-export"]]
    assert all(s["tasksNumber"] >= 1 and s["statusType"] == "success" for s in stages)
    tasks = api.get(f"{BP}/jobs/job-1/stages/processing/tasks").json()
    assert tasks["nextPageToken"] is None and tasks["tasks"][0]["progress"] == 1.0

    parts = api.get(f"{DS}/batches/job-1-processing/parts").json()["batchParts"]
    assert [(p["partName"], p["contentType"]) for p in parts] == [("results", "metadata")]
    (results,) = download_all(api, "job-1-processing", "results").values()
    rows = {row["file_name"]: row for row in map(json.loads, results.decode().splitlines())}
    assert rows["red.png"]["mean_rgb"] == [255.0, 0.0, 0.0]
    assert rows["grey.png"]["width"] == 8 and rows["grey.png"]["brightness"] == 100.0
    assert rows["red.png"]["sha256"] == hashlib.sha256(images["red.png"]).hexdigest()

    export_parts = api.get(f"{DS}/batches/job-1-export/parts").json()["batchParts"]
    assert export_parts[0]["contentType"] == "archives" and export_parts[0]["nestedContentType"] == "metadata"
    (archive,) = download_all(api, "job-1-export", export_parts[0]["partName"]).values()
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        (member,) = tar.getmembers()
        assert tar.extractfile(member).read() == results  # type: ignore[union-attr]


def test_csv_results_and_persisted_images_from_the_detector(api: Api) -> None:
    image = png(40, 40, (0, 0, 0))
    bright = png(40, 40, (255, 255, 255))
    stage_images(api, "det", {"dark.png": image, "bright.png": bright})
    body = job_body(
        "det",
        "bright-spot-detector",
        spec={
            "aggregationFormat": "csv",
            "persistImagesOutputs": True,
            "workflowParameters": {"threshold": 250},
        },
    )
    api.post(f"{BP}/jobs/det-job", json=body)
    assert api.wait_job("det-job")["error"] is False
    parts = {p["partName"]: p for p in api.get(f"{DS}/batches/det-job-processing/parts").json()["batchParts"]}
    assert parts["image-outputs"]["contentType"] == "images"
    (results,) = download_all(api, "det-job-processing", "results").values()
    records = list(csv.DictReader(io.StringIO(results.decode())))
    assert list(records[0]) == ["file_name", "predictions"] and len(records) == 2
    assert len(download_all(api, "det-job-processing", "image-outputs")) == 2
    rows = {r["file_name"]: json.loads(r["predictions"]) for r in records}
    assert rows["dark.png"]["predictions"] == []
    (spot,) = rows["bright.png"]["predictions"]
    assert spot["class"] == "bright-spot" and spot["width"] == 40 and spot["x"] == 20
    assert rows["bright.png"]["image"] == {"width": 40, "height": 40}


def test_same_definition_is_idempotent_and_a_different_one_conflicts(api: Api) -> None:
    stage_images(api, "idem", {"a.png": png()})
    assert api.post(f"{BP}/jobs/idem-job", json=job_body("idem")).status_code == 200
    assert api.post(f"{BP}/jobs/idem-job", json=job_body("idem")).status_code == 200
    response = api.post(f"{BP}/jobs/idem-job", json=job_body("idem", "bright-spot-detector"))
    assert response.status_code == 409 and "different definition" in response.json()["error"]
    state = api.http.get("/__emulator__/state").json()
    assert state["jobCreations"] == {"idem-job": 1}


@pytest.mark.parametrize(
    ("job_id", "mutate", "fragment"),
    [
        ("this-job-id-is-far-too-long", lambda b: b, "jobId"),
        ("Bad.Id", lambda b: b, "jobId"),
        ("j", lambda b: b | {"type": "unknown-type"}, "body.type"),
        ("j", lambda b: {k: v for k, v in b.items() if k != "jobInput"}, "body.jobInput"),
        ("j", lambda b: b | {"maxImageFailureRate": 1.5}, "maxImageFailureRate"),
        ("j", lambda b: b | {"inferenceBackend": "fast"}, "inferenceBackend"),
        (
            "j",
            lambda b: (
                b | {"computeConfiguration": {"type": "compute-configuration-v2", "machineType": "tpu"}}
            ),
            "machineType",
        ),
        (
            "j",
            lambda b: (
                b | {"processingSpecification": b["processingSpecification"] | {"aggregationFormat": "xml"}}
            ),
            "aggregationFormat",
        ),
    ],
)
def test_invalid_job_definitions_get_400_naming_the_field(
    api: Api, job_id: str, mutate, fragment: str
) -> None:
    stage_images(api, "val", {"a.png": png()})
    response = api.post(f"{BP}/jobs/{job_id}", json=mutate(job_body("val")))
    assert response.status_code == 400
    assert fragment in response.json()["error"]


def test_unknown_batch_is_404_and_unknown_workflow_fails_the_job(api: Api) -> None:
    response = api.post(f"{BP}/jobs/nobatch", json=job_body("missing-batch"))
    assert response.status_code == 404 and "missing-batch" in response.json()["error"]
    stage_images(api, "wf", {"a.png": png()})
    api.post(f"{BP}/jobs/nowf", json=job_body("wf", "no-such-workflow"))
    job = api.wait_job("nowf")
    assert job["error"] is True and "no-such-workflow" in job["lastNotification"]["message"]
    errors = api.get(f"{BP}/jobs/nowf/logs", params={"severity": "error"}).json()["logs"]
    assert errors and all(entry["severity"] == "error" for entry in errors)
    assert any("no-such-workflow" in entry["payload"]["message"] for entry in errors)
    assert api.get(f"{BP}/jobs/nowf/logs", params={"severity": "loud"}).status_code == 400


def test_abort_during_processing_and_restart_with_overrides(make_emulator) -> None:
    api = Api(make_emulator(seconds_per_image=0.05))
    stage_images(api, "slow", {f"{i}.png": png() for i in range(16)})
    api.post(f"{BP}/jobs/slow-job", json=job_body("slow"))
    api.wait_for(lambda: api.get(f"{BP}/jobs/slow-job").json()["job"]["currentStage"] == "processing")
    response = api.post(f"{BP}/jobs/slow-job/abort")
    assert response.status_code == 200
    job = api.get(f"{BP}/jobs/slow-job").json()["job"]
    assert job["isTerminal"] is True and job["error"] is True
    assert api.post(f"{BP}/jobs/slow-job/abort").status_code == 409
    override = {"type": "parameters-override-v1", "maxParallelTasks": 2}
    assert api.post(f"{BP}/jobs/slow-job/restart", json=override).status_code == 200
    assert api.post(f"{BP}/jobs/slow-job/restart").status_code == 409  # running again
    job = api.wait_job("slow-job")
    assert job["error"] is False and job["restartParametersOverride"] == [override]
    assert api.post(f"{BP}/jobs/slow-job/restart").status_code == 409  # succeeded jobs stay done


def test_failure_rate_above_the_limit_fails_the_task(api: Api) -> None:
    truncated = png(64, 64)[:60]  # a readable header, an undecodable body
    stage_images(api, "broken", {"good.png": png(), "bad-1.png": truncated, "bad-2.png": truncated})
    api.post(f"{BP}/jobs/strict", json=job_body("broken", maxImageFailureRate=0.5))
    job = api.wait_job("strict")
    assert job["error"] is True
    (task,) = api.get(f"{BP}/jobs/strict/stages/processing/tasks").json()["tasks"]
    assert task["statusType"] == "error" and "maxImageFailureRate 0.5" in task["notification"]["message"]
    api.post(f"{BP}/jobs/lenient", json=job_body("broken", maxImageFailureRate=0.7))
    assert api.wait_job("lenient")["error"] is False


def test_processing_timeout_is_shared_between_tasks(make_emulator) -> None:
    api = Api(make_emulator(seconds_per_image=0.4, shard_size=2))
    stage_images(api, "timed", {f"{i}.png": png() for i in range(4)})  # two tasks, 0.5 s each
    api.post(f"{BP}/jobs/timed-job", json=job_body("timed", processingTimeoutSeconds=1))
    job = api.wait_job("timed-job")
    assert job["error"] is True
    tasks = api.get(f"{BP}/jobs/timed-job/stages/processing/tasks").json()["tasks"]
    assert len(tasks) == 2
    assert all("processing time share of 0.50s" in t["notification"]["message"] for t in tasks)


def test_workspace_without_batch_processing_gets_402(make_emulator) -> None:
    api = Api(make_emulator(no_batch_processing_keys=("basic-key",)))
    response = api.http.get(f"{BP}/jobs", params={"api_key": "basic-key"})
    assert response.status_code == 402 and "not enabled" in response.json()["error"]
    assert api.http.get(f"{DS}/batches", params={"api_key": "basic-key"}).status_code == 200


def test_jobs_listing_keeps_the_token_key(api: Api) -> None:
    page = api.get(f"{BP}/jobs", params={"pageSize": 10}).json()
    assert page == {"jobs": [], "nextPageToken": None}


def test_job_webhook_on_completion(api: Api, webhook_receiver: WebhookReceiver) -> None:
    stage_images(api, "hook", {"a.png": png()})
    api.post(f"{BP}/jobs/hooked", json=job_body("hook", notificationsURL=webhook_receiver.url))
    api.wait_job("hooked")
    api.wait_for(lambda: bool(webhook_receiver.events("roboflow-batch-job-notification-v1")))
    (event,) = webhook_receiver.events("roboflow-batch-job-notification-v1")
    assert event["job_id"] == "hooked" and event["job_state"] == "success" and event["delivery_attempt"] == 1


def test_video_job_samples_frames_at_max_fps(api: Api) -> None:
    details = api.post(f"{DS}/batches/video-in/upload/video", params={"fileName": "clip.mp4"}).json()
    details = details["signedURLDetails"]
    httpx.put(details["uploadURL"], content=mp4(), headers=details["extensionHeaders"])
    body = job_body("video-in", spec={"maxVideoFPS": 5}) | {"type": "simple-video-processing-v1"}
    api.post(f"{BP}/jobs/vid-job", json=body)
    assert api.wait_job("vid-job")["error"] is False
    (results,) = download_all(api, "vid-job-processing", "results").values()
    rows = [json.loads(line) for line in results.decode().splitlines()]
    assert [r["frame_number"] for r in rows] == [0, 2, 4, 6, 8]
    assert rows[1]["timestamp"] == pytest.approx(0.2) and rows[0]["width"] == 32


def test_job_webhook_is_redelivered_after_a_time_out(
    make_emulator, webhook_receiver: WebhookReceiver
) -> None:
    api = Api(make_emulator(webhook_timeout=0.3))
    webhook_receiver.stalls_before_success = 1
    stage_images(api, "slow-hook", {"a.png": png()})
    api.post(f"{BP}/jobs/slow-hook", json=job_body("slow-hook", notificationsURL=webhook_receiver.url))

    def outcomes() -> list[str]:
        deliveries = api.http.get("/__emulator__/state").json()["webhookDeliveries"]
        return [d["outcome"] for d in deliveries]

    # The emulator records a delivery once the receiver has answered: after the receiver saw it.
    api.wait_for(lambda: len(webhook_receiver.events()) == 2 and len(outcomes()) == 2)
    first, second = webhook_receiver.events()
    assert first["event_id"] == second["event_id"]
    assert [first["delivery_attempt"], second["delivery_attempt"]] == [1, 2]
    recorded = outcomes()
    assert "timed out" in recorded[0] and recorded[1] == "204"


def _task_machine_seconds(api: Api, job_id: str) -> dict[str, float]:
    """Per processing task: eventTimestamp minus the createdAt of its task-started log."""
    from datetime import datetime

    def when(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    logs = api.get(f"{BP}/jobs/{job_id}/logs").json()["logs"]
    starts = {
        log["taskId"]: when(log["createdAt"])
        for log in logs
        if log["logType"] == "task-started" and log["processingStageId"] == "processing"
    }
    tasks = api.get(f"{BP}/jobs/{job_id}/stages/processing/tasks").json()["tasks"]
    return {t["taskId"]: (when(t["eventTimestamp"]) - starts[t["taskId"]]).total_seconds() for t in tasks}


def test_tasks_spend_machine_time_in_proportion_to_their_files_and_gpus_are_faster(make_emulator) -> None:
    emulator = make_emulator(seconds_per_image=0.05, task_start_seconds=0.05, shard_size=8)
    api = Api(emulator)
    # Two tasks: 8 and 2 images. Nominal machine time: 0.05 + 8 x 0.05 x f and 0.05 + 2 x 0.05 x f.
    stage_images(api, "sized", {f"{i:02d}.png": png(color=(i, 0, 0)) for i in range(10)})
    api.post(f"{BP}/jobs/cpu-job", json=job_body("sized"))
    assert api.wait_job("cpu-job")["error"] is False
    cpu = sorted(_task_machine_seconds(api, "cpu-job").values())
    assert len(cpu) == 2
    assert 0.05 + 2 * 0.05 * 0.75 <= cpu[0] < cpu[1]
    assert 0.05 + 8 * 0.05 * 0.75 <= cpu[1] <= 0.05 + 8 * 0.05 * 1.25 + 0.3
    gpu_body = job_body(
        "sized", computeConfiguration={"type": "compute-configuration-v2", "machineType": "gpu"}
    )
    api.post(f"{BP}/jobs/gpu-job", json=gpu_body)
    assert api.wait_job("gpu-job")["error"] is False
    assert sum(_task_machine_seconds(api, "gpu-job").values()) < sum(cpu) / 2


def test_a_job_over_its_ceiling_stops_each_task_at_its_share_and_says_so(make_emulator) -> None:
    api = Api(make_emulator(seconds_per_image=0.3, shard_size=4))
    stage_images(api, "big", {f"{i}.png": png() for i in range(8)})  # two tasks of about 1.2 s
    api.post(f"{BP}/jobs/capped", json=job_body("big", processingTimeoutSeconds=1))
    job = api.wait_job("capped")
    assert job["error"] is True and "processingTimeoutSeconds=1" in job["lastNotification"]["message"]
    (processing,) = api.get(f"{BP}/jobs/capped/stages").json()["stages"]
    assert processing["statusType"] == "error"
    assert processing["notification"]["message"].startswith("Stopped by processingTimeoutSeconds=1: 2 of 2")
    # Every task stopped at its half-second share (plus scheduling slack), not after its 1.2 s of work.
    spent = _task_machine_seconds(api, "capped")
    assert all(0.45 <= seconds < 0.9 for seconds in spent.values()), spent
    logs = api.get(f"{BP}/jobs/capped/logs", params={"severity": "error"}).json()["logs"]
    assert {"task-timeout", "processing-timeout"} <= {log["logType"] for log in logs}
    assert "capped-processing" in api.emulator.store.batches  # the stage's output batch exists
    assert not api.emulator.store.batches["capped-processing"].files  # but no task finished


def test_machine_settings_are_a_control_route_kept_across_a_reset(api: Api) -> None:
    base = api.emulator.url + "/__emulator__/machines"
    assert httpx.post(base, json={"secondsPerImage": 0.2, "gpuSpeedup": 2, "imagesPerTask": 3}).json() == {
        "secondsPerImage": 0.2,
        "taskStartSeconds": 0.0,
        "gpuSpeedup": 2.0,
        "imagesPerTask": 3,
    }
    assert httpx.post(base, json={"imagesPerTask": 1.5}).status_code == 400
    refused = httpx.post(base, json={"secondsPerImage": -1})
    assert refused.status_code == 400 and "secondsPerImage" in refused.json()["error"]
    assert httpx.post(base, json={"cores": 2}).status_code == 400
    httpx.post(api.emulator.url + "/__emulator__/reset")
    assert httpx.get(base).json()["secondsPerImage"] == 0.2


def test_the_digest_changes_with_what_a_client_creates_and_not_with_reads(api: Api) -> None:
    def digest() -> str:
        return str(httpx.get(api.emulator.url + "/__emulator__/digest").json()["digest"])

    empty = digest()
    api.get(f"{BP}/jobs")
    api.get(f"{DS}/batches")
    assert api.get(f"{BP}/jobs/nope").status_code == 404
    assert digest() == empty
    stage_images(api, "d", {"a.png": png()})
    staged = digest()
    assert staged != empty
    api.get(f"{DS}/batches/d/list")
    assert digest() == staged


def test_a_long_stage_delay_holds_a_job_until_a_shorter_one_lets_it_go(
    make_emulator: Callable[..., Emulator],
) -> None:
    api = Api(make_emulator(stage_delay=600.0))
    stage_images(api, "held", {"a.png": png()})
    assert api.post(f"{BP}/jobs/held-job", json=job_body("held")).status_code == 200
    job = api.get(f"{BP}/jobs/held-job").json()["job"]
    assert (job["isTerminal"], job["currentStage"]) == (False, "processing")
    changed = api.http.post("/__emulator__/delays", json={"stageDelay": 0})
    assert changed.json() == {"ingestDelay": 0.05, "stageDelay": 0.0}
    assert api.wait_job("held-job")["error"] is False  # within wait_job's 20 s, not 2 x 600 s


@pytest.mark.parametrize(
    "bad", [{"stageDelay": -1}, {"stageDelay": "5"}, {"ingestDelay": True}, {"shardSize": 3}, [1]]
)
def test_invalid_delays_are_refused_and_change_nothing(api: Api, bad: object) -> None:
    response = api.http.post("/__emulator__/delays", json=bad)
    assert response.status_code == 400 and response.json()["error"]
    assert api.http.post("/__emulator__/delays", json={}).json() == {"ingestDelay": 0.05, "stageDelay": 0.05}
