"""Roboflow API calls of a job wait and the delay from job completion to the wait's end, with and
without webhooks, side by side in one run against the emulator.

Without webhooks the job trigger polls every 10 s (the sensor's default). With webhooks it asks the
Roboflow API only every 120 s (the fallback) and the receiver once a second; the emulator notifies
the project's receiver app (served here by uvicorn on loopback with an in-memory store) when the job
ends. Completion time is when the receiver got the job's notification, which the emulator sends as
the job ends, in both modes. Target: with webhooks, fewer API calls and the wait ends within 2 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from typing import Any

from bench import result
from include.devstack.services import free_port, start_roboflow_emulator

STAGE_DELAY_S = 20.0
POLL_S, FALLBACK_S, CHECK_S = 10.0, 120.0, 1.0
KEY = "rf_pub_demo"


class ReceiverStore:
    """In-memory stand-in of the DB store: counts per watch key and the arrival time of each event."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()

    def record(self, notification: Any) -> bool:
        with self.lock:
            if notification.event_id in self.arrived:
                return False
            self.arrived[notification.event_id] = time.time()
            if notification.job_id:
                self.arrived.setdefault(f"job:{notification.job_id}", time.time())
            for key in notification.watch_keys():
                self.counts[key] = self.counts.get(key, 0) + 1
            return True

    def watch(self, key: str) -> dict[str, Any]:
        with self.lock:
            return {"count": self.counts.get(key, 0)}


def serve_receiver(store: ReceiverStore, port: int) -> Any:
    import uvicorn
    from fastapi import FastAPI

    from include.roboflow_batch.notifications.receiver import create_receiver_app

    root = FastAPI()
    root.mount("/roboflow", create_receiver_app(lambda: KEY, store.record, store.watch))
    server = uvicorn.Server(uvicorn.Config(root, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server


def stage_batch(client: Any, batch_id: str) -> None:
    from include.devstack.sample_media import sample_images

    for image in sample_images(4, prefix=batch_id, seed=3):
        client.upload_image(batch_id, image.name, image.content)
    deadline = time.monotonic() + 60
    while client.count_batch(batch_id) < 4 and time.monotonic() < deadline:
        time.sleep(0.2)


def job_requests(emulator: Any) -> int:
    import httpx

    counts = httpx.get(f"{emulator.url}/__emulator__/state").json()["requests"]
    return sum(n for route, n in counts.items() if "/jobs" in route and not route.startswith("POST"))


def wait_once(emulator: Any, store: ReceiverStore, receiver_url: str, webhooks: bool) -> dict[str, float]:
    from include.roboflow_batch.api.client import RoboflowClient
    from include.roboflow_batch.api.jobs import WorkflowJobSpec
    from include.roboflow_batch.triggers.job import RoboflowJobTrigger

    mode = "hooks" if webhooks else "poll"
    batch_id, job_id = f"bench-{mode}-b", f"bench-{mode}-j"
    with RoboflowClient(emulator.url, "test-api-key", workspace="demo-workspace") as client:
        stage_batch(client, batch_id)
        spec = WorkflowJobSpec(batch_id=batch_id, workflow_id="image-stats", notifications_url=receiver_url)
        client.create_job(job_id, spec.to_body("demo-workspace"))
    before = job_requests(emulator)
    trigger = RoboflowJobTrigger(
        job_id=job_id,
        poll_interval=FALLBACK_S if webhooks else POLL_S,
        notification_check_interval=CHECK_S if webhooks else None,
    )

    async def run() -> dict[str, Any]:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("no event")

    payload = asyncio.run(run())
    ended = time.time()
    assert payload["status"] == "success", payload
    completed = store.arrived[f"job:{job_id}"]
    return {"api_calls": job_requests(emulator) - before, "delay_s": ended - completed}


def run() -> list[dict[str, Any]]:
    store = ReceiverStore()
    port = free_port()
    server = serve_receiver(store, port)
    emulator = start_roboflow_emulator(
        extra_args=["--ingest-delay", "0.3", "--stage-delay", str(STAGE_DELAY_S)]
    )
    saved = {k: os.environ.get(k) for k in ("AIRFLOW_CONN_ROBOFLOW_DEFAULT", "AIRFLOW__API__BASE_URL")}
    os.environ["AIRFLOW_CONN_ROBOFLOW_DEFAULT"] = json.dumps(
        {
            "conn_type": "roboflow",
            "host": emulator.url,
            "password": "test-api-key",
            "extra": {"workspace": "demo-workspace", "publishable_key": KEY},
        }
    )
    os.environ["AIRFLOW__API__BASE_URL"] = f"http://127.0.0.1:{port}"
    receiver_url = f"http://127.0.0.1:{port}/roboflow/webhooks"
    try:
        polled = wait_once(emulator, store, receiver_url, webhooks=False)
        hooked = wait_once(emulator, store, receiver_url, webhooks=True)
    finally:
        emulator.stop()
        server.should_exit = True
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    detail = (
        f"one job, 2 stages of {STAGE_DELAY_S:.0f} s; polling every {POLL_S:.0f} s vs fallback "
        f"{FALLBACK_S:.0f} s + receiver check every {CHECK_S:.0f} s"
    )
    return [
        result(
            "webhook_waits",
            "Roboflow job API calls per wait with webhooks (lower is better; baseline: polling)",
            hooked["api_calls"],
            "calls",
            baseline=polled["api_calls"],
            baseline_name="polling",
            detail=detail,
        ),
        result(
            "webhook_waits",
            "job completion to wait end with webhooks (s, lower is better; baseline: polling)",
            hooked["delay_s"],
            "s",
            baseline=polled["delay_s"],
            baseline_name="polling",
            target="< 2 s",
            met=hooked["delay_s"] < 2.0,
            detail=detail,
        ),
    ]
