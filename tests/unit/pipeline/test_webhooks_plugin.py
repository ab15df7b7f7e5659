"""The webhook receiver plugin: publishable-key check and de-duplication by event_id."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from plugins.roboflow_webhooks import RoboflowWebhooksPlugin, create_app

KEY = "rf_pub_demo"
JOB_EVENT = {
    "type": "roboflow-batch-job-notification-v1",
    "event_id": "4b9c1c3e-0000-4000-8000-000000000001",
    "job_id": "demo-s3-b-xxc7o53plh",
    "job_state": "success",
    "delivery_attempt": 1,
}


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(key_lookup=lambda: KEY))


def test_event_is_accepted_once_and_redelivery_is_a_duplicate(client: TestClient) -> None:
    first = client.post("/webhooks", json=JOB_EVENT, headers={"Authorization": KEY})
    again = client.post(
        "/webhooks", json={**JOB_EVENT, "delivery_attempt": 2}, headers={"Authorization": KEY}
    )

    assert first.status_code == 202 and first.json()["status"] == "accepted"
    assert again.status_code == 202 and again.json()["status"] == "duplicate"
    events = client.get("/webhooks/events", headers={"Authorization": f"Bearer {KEY}"}).json()["events"]
    assert [e["event_id"] for e in events] == [JOB_EVENT["event_id"]]
    assert events[0]["job_state"] == "success"


@pytest.mark.parametrize("header", [None, "rf_pub_other", "Bearer rf_pub_other"])
def test_wrong_or_missing_key_is_refused(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}

    response = client.post("/webhooks", json=JOB_EVENT, headers=headers)

    assert response.status_code == 401
    assert client.get("/webhooks/events", headers={"Authorization": KEY}).json()["events"] == []


def test_bearer_prefix_is_accepted(client: TestClient) -> None:
    response = client.post("/webhooks", json=JOB_EVENT, headers={"Authorization": f"Bearer {KEY}"})

    assert response.json()["status"] == "accepted"


def test_without_a_configured_key_nothing_is_accepted() -> None:
    client = TestClient(create_app(key_lookup=lambda: None))

    assert client.post("/webhooks", json=JOB_EVENT, headers={"Authorization": KEY}).status_code == 503


def test_notification_without_event_id_is_rejected(client: TestClient) -> None:
    response = client.post("/webhooks", json={"type": "x"}, headers={"Authorization": KEY})

    assert response.status_code == 422


def test_plugin_mounts_the_app_under_roboflow() -> None:
    [app] = RoboflowWebhooksPlugin.fastapi_apps

    assert app["url_prefix"] == "/roboflow"
