"""Fault injection: deterministic by seed, faulted requests change nothing, drop-after-write applies."""

from __future__ import annotations

import httpx
import pytest

from include.roboflow_emulator.faults import FaultInjector, FaultSettings
from tests.unit.emulator.conftest import BP, DS, Api, WebhookReceiver, png
from tests.unit.emulator.test_jobs import job_body, stage_images


def _sequence(seed: int) -> list[str | None]:
    injector = FaultInjector(FaultSettings(rate=0.3, drop_rate=0.1, drop_after_write_rate=0.2, seed=seed))
    return [injector.decide(is_write=i % 2 == 0).kind for i in range(200)]


def test_same_seed_same_faults_and_other_seed_differs() -> None:
    first, again, other = _sequence(7), _sequence(7), _sequence(8)
    assert first == again
    assert first != other
    kinds = set(first)
    assert {"drop", "dropAfterWrite", None} <= kinds
    assert kinds & {"429", "500", "502", "503"}


def test_changing_the_seed_at_runtime_restarts_the_stream() -> None:
    injector = FaultInjector(FaultSettings(rate=0.5, seed=1))
    before = [injector.decide(False).kind for _ in range(50)]
    injector.update({"seed": 1})
    assert [injector.decide(False).kind for _ in range(50)] == before


@pytest.mark.parametrize("bad", [{"rate": 2}, {"statuses": [418]}, {"latencyMs": -1}, {"bogus": 1}])
def test_invalid_fault_settings_are_refused(api: Api, bad: dict) -> None:
    response = api.http.post("/__emulator__/faults", json=bad)
    assert response.status_code == 400 and response.json()["error"]


def test_rate_limited_requests_carry_retry_after_and_change_nothing(api: Api) -> None:
    stage_images(api, "f429", {"a.png": png()})
    api.http.post("/__emulator__/faults", json={"rate": 1.0, "statuses": [429]})
    response = api.post(f"{BP}/jobs/never", json=job_body("f429"))
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    assert "error" in response.json()
    assert api.http.get("/__emulator__/health").status_code == 200  # control routes are never faulted
    state = api.http.get("/__emulator__/state").json()
    assert state["jobCreations"] == {} and state["faultsInjected"]
    api.http.post("/__emulator__/faults", json={"rate": 0.0})
    assert api.get(f"{BP}/jobs/never").status_code == 404


def test_dropped_connections_change_nothing(api: Api) -> None:
    api.http.post("/__emulator__/faults", json={"dropRate": 1.0})
    with pytest.raises(httpx.TransportError):
        api.post(f"{DS}/batches/dropped/upload/image", params={"fileName": "a.png"}, files={"a": png()})
    api.http.post("/__emulator__/faults", json={"dropRate": 0.0})
    assert api.get(f"{DS}/batches/dropped").status_code == 404


def test_drop_after_write_applies_the_write_so_a_retry_is_idempotent(api: Api) -> None:
    stage_images(api, "daw", {"a.png": png()})
    api.http.post("/__emulator__/faults", json={"dropAfterWriteRate": 1.0})
    assert api.get(f"{DS}/batches/daw").status_code == 200  # reads are untouched
    with pytest.raises(httpx.TransportError):
        api.post(f"{BP}/jobs/daw-job", json=job_body("daw"))
    api.http.post("/__emulator__/faults", json={"dropAfterWriteRate": 0.0})
    assert api.post(f"{BP}/jobs/daw-job", json=job_body("daw")).status_code == 200
    assert api.http.get("/__emulator__/state").json()["jobCreations"] == {"daw-job": 1}


def test_duplicate_webhooks_repeat_the_event_id(api: Api, webhook_receiver: WebhookReceiver) -> None:
    api.http.post("/__emulator__/faults", json={"duplicateWebhooks": True})
    stage_images(api, "dup-hook", {"a.png": png()})
    api.post(f"{BP}/jobs/dup-hook", json=job_body("dup-hook", notificationsURL=webhook_receiver.url))
    api.wait_for(lambda: len(webhook_receiver.events()) == 2)
    first, second = webhook_receiver.events()
    assert first["event_id"] == second["event_id"] and first["job_state"] == "success"


def test_reset_forgets_everything(api: Api) -> None:
    stage_images(api, "gone", {"a.png": png()})
    api.http.post("/__emulator__/reset")
    assert api.get(f"{DS}/batches/gone").status_code == 404
    assert api.http.get("/__emulator__/state").json()["batches"] == {}
