"""The webhook receiver: key before body, size limit before parsing, no echo, one record per event."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from include.roboflow_batch.notifications.events import MAX_BODY_BYTES, Notification
from include.roboflow_batch.notifications.receiver import create_receiver_app

KEY = "rf_pub_demo"
JOB_EVENT = {
    "type": "roboflow-batch-job-notification-v1",
    "event_id": "4b9c1c3e-0000-4000-8000-000000000001",
    "job_id": "demo-s3-b-xxc7o53plh",
    "job_state": "success",
    "delivery_attempt": 1,
}


class MemoryStore:
    """Records by event_id, like the DB store, and counts per watch key."""

    def __init__(self) -> None:
        self.events: dict[str, Notification] = {}
        self.counts: dict[str, int] = {}

    def record(self, notification: Notification) -> bool:
        if notification.event_id in self.events:
            return False
        self.events[notification.event_id] = notification
        for key in notification.watch_keys():
            self.counts[key] = self.counts.get(key, 0) + 1
        return True

    def watch(self, key: str) -> dict[str, Any]:
        return {"count": self.counts.get(key, 0)}


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def app(store: MemoryStore) -> FastAPI:
    return create_receiver_app(lambda: KEY, store.record, store.watch)


@pytest.fixture
def client(app: FastAPI) -> TestClient:
    return TestClient(app)


def test_event_is_recorded_once_and_redelivery_is_a_duplicate(client: TestClient, store: MemoryStore) -> None:
    first = client.post("/webhooks", json=JOB_EVENT, headers={"Authorization": KEY})
    again = client.post(
        "/webhooks", json={**JOB_EVENT, "delivery_attempt": 2}, headers={"Authorization": KEY}
    )

    assert first.status_code == 202 and first.json()["status"] == "accepted"
    assert again.status_code == 202 and again.json()["status"] == "duplicate"
    assert list(store.events) == [JOB_EVENT["event_id"]]
    watched = client.get(
        "/webhooks/watch", params={"job_id": JOB_EVENT["job_id"]}, headers={"Authorization": KEY}
    )
    assert watched.json() == {"count": 1}


def test_bearer_prefix_is_accepted(client: TestClient) -> None:
    response = client.post("/webhooks", json=JOB_EVENT, headers={"Authorization": f"Bearer {KEY}"})

    assert response.json()["status"] == "accepted"


def test_without_a_configured_key_nothing_is_accepted(store: MemoryStore) -> None:
    client = TestClient(create_receiver_app(lambda: None, store.record, store.watch))

    assert client.post("/webhooks", json=JOB_EVENT, headers={"Authorization": KEY}).status_code == 503
    assert store.events == {}


def test_watch_needs_the_key_and_exactly_one_subject(client: TestClient) -> None:
    assert client.get("/webhooks/watch", params={"job_id": "j"}).status_code == 401
    both = client.get(
        "/webhooks/watch", params={"job_id": "j", "batch_id": "b"}, headers={"Authorization": KEY}
    )
    assert both.status_code == 400


def _call(app: FastAPI, headers: dict[str, str], chunks: list[bytes]) -> tuple[int, bytes, int]:
    """Drive the ASGI app directly; return (status, body, how many body chunks it pulled)."""
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhooks",
        "raw_path": b"/webhooks",
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, pulled


@pytest.mark.parametrize("authorization", [None, "rf_pub_other", "Bearer rf_pub_other", ""])
def test_unauthenticated_body_is_never_read(
    app: FastAPI, store: MemoryStore, authorization: str | None
) -> None:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization

    status, _, pulled = _call(app, headers, [json.dumps(JOB_EVENT).encode()])

    assert (status, pulled) == (401, 0)
    assert store.events == {}


def test_declared_oversize_body_is_refused_unread(app: FastAPI, store: MemoryStore) -> None:
    headers = {"authorization": KEY, "content-length": str(MAX_BODY_BYTES + 1)}

    status, _, pulled = _call(app, headers, [b"x" * 100])

    assert (status, pulled) == (413, 0)


def test_streamed_oversize_body_stops_being_read_at_the_limit(app: FastAPI, store: MemoryStore) -> None:
    chunk = b" " * (64 * 1024)
    chunks = [chunk] * 20  # 1.25 MiB, no Content-Length (chunked)

    status, _, pulled = _call(app, {"authorization": KEY}, chunks)

    assert status == 413
    assert pulled == MAX_BODY_BYTES // len(chunk) + 1
    assert store.events == {}


@pytest.mark.parametrize(
    "body",
    [
        b"<script>alert('owned')</script>",
        json.dumps({**JOB_EVENT, "event_id": "<script>alert('owned')</script>"}).encode(),
        json.dumps({"type": "<script>alert('owned')</script>"}).encode(),
    ],
)
def test_bad_bodies_are_refused_without_echoing_them(app: FastAPI, body: bytes) -> None:
    status, answer, _ = _call(app, {"authorization": KEY, "content-type": "application/json"}, [body])

    assert status == 422
    assert b"owned" not in answer and b"script" not in answer
    assert b"not a Roboflow notification" in answer
