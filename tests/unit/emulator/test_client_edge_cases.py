"""Edge cases found by driving the official CLI at the emulator, beyond the contract suite's flows."""

from __future__ import annotations

from tests.unit.emulator.conftest import BP, DS, Api, FileServer, mp4, png
from tests.unit.emulator.test_jobs import job_body, stage_images


def waiting_tasks(api: Api, job_id: str, stage_id: str = "processing") -> int:
    """What `show-job-details` shows as waiting: tasks whose progress is still null."""
    tasks = api.get(f"{BP}/jobs/{job_id}/stages/{stage_id}/tasks").json()["tasks"]
    return sum(1 for task in tasks if task["progress"] is None)


def test_tasks_failed_before_starting_are_not_reported_waiting(api: Api) -> None:
    stage_images(api, "wf-in", {"a.png": png()})
    api.post(f"{BP}/jobs/bad-wf", json=job_body("wf-in", "no-such-workflow"))
    assert api.wait_job("bad-wf")["error"] is True
    (task,) = api.get(f"{BP}/jobs/bad-wf/stages/processing/tasks").json()["tasks"]
    assert task["statusType"] == "error" and task["progress"] is not None
    assert waiting_tasks(api, "bad-wf") == 0


def test_abort_leaves_no_task_waiting(make_emulator) -> None:
    api = Api(make_emulator(seconds_per_image=0.2, shard_size=2))
    stage_images(api, "queue", {f"{i}.png": png() for i in range(6)})  # three tasks, one at a time
    api.post(f"{BP}/jobs/queued", json=job_body("queue", maxParallelTasks=1))
    api.wait_for(lambda: api.get(f"{BP}/jobs/queued").json()["job"]["currentStage"] == "processing")
    assert api.post(f"{BP}/jobs/queued/abort").status_code == 200
    tasks = api.get(f"{BP}/jobs/queued/stages/processing/tasks").json()["tasks"]
    assert len(tasks) == 3 and all(task["statusType"] != "info" for task in tasks)
    assert waiting_tasks(api, "queued") == 0


def test_reference_ingest_with_repeated_names_is_refused_naming_them(
    api: Api, file_server: FileServer
) -> None:
    refs = [
        file_server.ref("a.png", png()),
        file_server.ref("b.png", png()),
        {"name": "a.png", "url": f"{file_server.url}/b.png"},
    ]
    response = api.post(f"{DS}/batches/twice/bulk-upload/image-references", json={"imageReferences": refs})
    assert response.status_code == 400
    message = response.json()["error"]
    assert "imageReferences" in message and "'a.png'" in message and "'b.png'" not in message
    assert api.get(f"{DS}/batches/twice").status_code == 404  # nothing was created


def test_images_metadata_part_must_be_a_part_of_the_input_batch(api: Api) -> None:
    stage_images(api, "plain", {"a.png": png()})
    body = job_body("plain")
    body["jobInput"]["imagesMetadataPart"] = "metadata"
    response = api.post(f"{BP}/jobs/meta-simple", json=body)
    assert response.status_code == 400
    assert (
        "jobInput.imagesMetadataPart" in response.json()["error"] and "multipart" in response.json()["error"]
    )

    api.post(f"{BP}/jobs/source", json=job_body("plain", spec={"persistImagesOutputs": True}))
    assert api.wait_job("source")["error"] is False
    body = job_body("source-processing")
    body["jobInput"].update(partName="image-outputs", imagesMetadataPart="no-such-part")
    response = api.post(f"{BP}/jobs/meta-missing", json=body)
    assert response.status_code == 400 and "'no-such-part' is not a part" in response.json()["error"]
    body["jobInput"]["imagesMetadataPart"] = "results"
    assert api.post(f"{BP}/jobs/meta-ok", json=body).status_code == 200


def test_wrong_content_type_of_an_input_part_names_the_part(api: Api) -> None:
    stage_images(api, "src", {"a.png": png()})
    api.post(f"{BP}/jobs/src-job", json=job_body("src"))
    assert api.wait_job("src-job")["error"] is False
    body = job_body("src-job-processing")
    body["jobInput"]["partName"] = "results"
    response = api.post(f"{BP}/jobs/on-results", json=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Part 'results' of batch 'src-job-processing' holds metadata")


def test_video_references_that_are_not_videos_fail_per_file(api: Api, file_server: FileServer) -> None:
    refs = [
        file_server.ref("clip.mp4", mp4()),
        file_server.ref("text.mp4", b"plain text, not a container"),
        file_server.ref("still.mp4", png()),
    ]
    response = api.post(
        f"{DS}/batches/fake-vids/bulk-upload/video-references", json={"videoReferences": refs}
    )
    assert response.status_code == 200
    shards = api.wait_indexed("fake-vids")
    failed = {f["fileName"]: f for s in shards for f in s["statusMetadata"]["failedFiles"]}
    assert sorted(failed) == ["still.mp4", "text.mp4"]
    assert {f["type"] for f in failed.values()} == {"unsupported-file-type"}
    listing = api.get(f"{DS}/batches/fake-vids/list").json()["filesMetadata"]
    assert [f["fileName"] for f in listing] == ["clip.mp4"]
