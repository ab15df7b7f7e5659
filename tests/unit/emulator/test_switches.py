"""Service switches and the clock: exhausted credits, start latency, expiry of staged data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from include.roboflow_emulator.app import Emulator
from include.roboflow_emulator.switches import CREDITS_MESSAGE
from tests.unit.emulator.conftest import BP, DS, Api, png
from tests.unit.emulator.test_jobs import job_body, stage_images

EIGHT_DAYS = 8 * 24 * 3600


def control(api: Api, path: str, body: dict[str, Any]) -> httpx.Response:
    return api.http.post(f"/__emulator__/{path}", json=body)


def test_exhausted_credits_refuse_job_creation_before_the_duplicate_check(api: Api) -> None:
    stage_images(api, "in", {"a.png": png()})
    assert api.post(f"{BP}/jobs/job-1", json=job_body("in")).status_code == 200
    assert control(api, "switches", {"creditsExhausted": True}).json()["creditsExhausted"] is True

    # A repeat of the creation that went through meets the credits check first, as the service does.
    for job_id in ("job-1", "job-2"):
        refused = api.post(f"{BP}/jobs/{job_id}", json=job_body("in"))
        assert refused.status_code == 429
        assert refused.json() == {"error": CREDITS_MESSAGE}
        assert "retry-after" not in refused.headers  # not a rate limit: waiting seconds will not help
    assert api.get(f"{BP}/jobs/job-2").status_code == 404
    assert api.emulator.store.job_creations == {"job-1": 1}

    control(api, "switches", {"creditsExhausted": False})
    assert api.post(f"{BP}/jobs/job-2", json=job_body("in")).status_code == 200
    assert api.post(f"{BP}/jobs/job-1", json=job_body("in")).json()["duplicated"] is True
    assert api.emulator.store.job_creations == {"job-1": 1, "job-2": 1}


def test_a_job_waits_for_its_machines_without_a_stage_then_runs(api: Api) -> None:
    stage_images(api, "in", {"a.png": png()})
    control(api, "switches", {"jobStartLatencySeconds": 0.6})
    api.post(f"{BP}/jobs/job-1", json=job_body("in"))
    job = api.get(f"{BP}/jobs/job-1").json()["job"]
    assert job["currentStage"] is None and job["isTerminal"] is False
    notification = api.get(f"{BP}/jobs/job-1").json()["job"]["lastNotification"]
    assert notification["type"] == "job-queued" and "waiting for machines" in notification["message"].lower()
    assert api.get(f"{BP}/jobs/job-1/stages").json()["stages"] == []
    finished = api.wait_job("job-1")
    assert finished["error"] is False
    logs = [entry["logType"] for entry in api.get(f"{BP}/jobs/job-1/logs").json()["logs"]]
    assert logs.index("job-queued") < logs.index("stage-started")


def test_a_job_waiting_for_machines_can_be_aborted(api: Api) -> None:
    stage_images(api, "in", {"a.png": png()})
    control(api, "switches", {"jobStartLatencySeconds": 30})
    api.post(f"{BP}/jobs/job-1", json=job_body("in"))
    assert api.post(f"{BP}/jobs/job-1/abort").status_code == 200
    job = api.get(f"{BP}/jobs/job-1").json()["job"]
    assert job["isTerminal"] is True and job["error"] is True and job["currentStage"] is None


def test_moving_the_clock_past_retention_expires_inputs_and_results(api: Api) -> None:
    stage_images(api, "in", {"a.png": png()})
    api.post(f"{BP}/jobs/job-1", json=job_body("in"))
    api.wait_job("job-1")
    expiry = api.get(f"{DS}/batches/job-1-export").json()["batch"]["expiryDate"]

    moved = control(api, "clock", {"advanceSeconds": EIGHT_DAYS}).json()
    assert moved["offsetSeconds"] == EIGHT_DAYS and moved["now"] > expiry
    for batch_id in ("in", "job-1-processing", "job-1-export"):
        assert api.get(f"{DS}/batches/{batch_id}").status_code == 404
        assert api.get(f"{DS}/batches/{batch_id}/list").status_code == 404
    assert api.get(f"{DS}/batches").json()["batches"] == []
    # The job itself stays listed; only its staged data is gone.
    assert api.get(f"{BP}/jobs/job-1").json()["job"]["isTerminal"] is True
    state = api.http.get("/__emulator__/state").json()
    assert state["batches"]["in"]["expired"] is True and state["clock"]["offsetSeconds"] == EIGHT_DAYS
    # A new job over the expired batch is refused like one over a batch that never existed.
    assert api.post(f"{BP}/jobs/job-2", json=job_body("in")).status_code == 404


def test_an_expired_batch_id_is_reused_by_default(api: Api) -> None:
    stage_images(api, "in", {"a.png": png(), "b.png": png()})
    first = api.get(f"{DS}/batches/in").json()["batch"]
    control(api, "clock", {"advanceSeconds": EIGHT_DAYS})
    stage_images(api, "in", {"c.png": png()})
    batch = api.get(f"{DS}/batches/in").json()["batch"]
    assert batch["createdDate"] > first["expiryDate"]  # a new batch, dated by the moved clock
    names = [f["fileName"] for f in api.get(f"{DS}/batches/in/list").json()["filesMetadata"]]
    assert names == ["c.png"]  # the expired content is gone, not merged in


@pytest.mark.parametrize("upload", ["single image", "references"])
def test_an_expired_batch_id_is_refused_when_the_switch_says_so(
    make_emulator: Callable[..., Emulator], upload: str
) -> None:
    api = Api(make_emulator(switches={"expiredBatchIds": "refuse"}))
    stage_images(api, "in", {"a.png": png()})
    control(api, "clock", {"advanceSeconds": EIGHT_DAYS})
    if upload == "single image":
        refused = api.post(f"{DS}/batches/in/upload/image", params={"fileName": "b.png"}, files={"b": png()})
    else:
        refs = {"imageReferences": [{"name": "b.png", "url": "http://127.0.0.1:9/b.png"}], "ingestId": "i-1"}
        refused = api.post(f"{DS}/batches/in/bulk-upload/image-references", json=refs)
    assert refused.status_code == 409
    assert "expired at" in refused.json()["error"] and "new batchId" in refused.json()["error"]
    stage_images(api, "in-2", {"b.png": png()})  # another id works


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("switches", {"creditsExhausted": "yes"}),
        ("switches", {"jobStartLatencySeconds": -1}),
        ("switches", {"expiredBatchIds": "forget"}),
        ("switches", {"credits": True}),
        ("clock", {"advanceSeconds": -5}),
        ("clock", {"advanceSeconds": True}),
        ("clock", {"seconds": 5}),
    ],
)
def test_invalid_switches_and_clock_moves_are_refused(api: Api, path: str, body: dict[str, Any]) -> None:
    response = control(api, path, body)
    assert response.status_code == 400
    assert response.json()["error"]


def test_reset_puts_the_clock_back_and_keeps_the_switches(api: Api) -> None:
    control(api, "switches", {"creditsExhausted": True})
    control(api, "clock", {"advanceSeconds": 60})
    api.http.post("/__emulator__/reset")
    state = api.http.get("/__emulator__/state").json()
    assert state["clock"]["offsetSeconds"] == 0
    assert state["switches"] == {
        "creditsExhausted": True,
        "jobStartLatencySeconds": 0.0,
        "expiredBatchIds": "reuse",
    }
