"""The webhook receiver on a real Airflow api-server (2 workers, SQLite): duplicate deliveries and a
restart of the api-server still leave exactly one Asset event per event_id; unauthenticated
deliveries leave none; a deferred wait's watch wakes on a notification."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from include.devstack import connections
from include.devstack.airflow_stack import (
    AirflowAPI,
    airflow_env,
    api_server_env,
    start_api_server,
)
from include.devstack.services import free_port
from include.roboflow_batch.notifications.events import NOTIFICATIONS_ASSET_NAME
from include.roboflow_batch.notifications.watch import WATCH_PATH, NotificationWatch
from tests.shared_stack import migrated_home

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

KEY = connections.DEMO_PUBLISHABLE_KEY
JOB_EVENT = {
    "type": "roboflow-batch-job-notification-v1",
    "event_id": "0f6a3c1e-5b7d-4e2a-9c1f-2a6b8d4e0001",
    "job_id": "it-job-1",
    "job_state": "success",
    "delivery_attempt": 1,
}


@pytest.fixture(scope="module")
def api_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    home = tmp_path_factory.mktemp("webhooks-home")
    env = airflow_env(
        home,
        connections={
            "roboflow_default": connections.roboflow_connection("http://127.0.0.1:9", publishable_key=KEY)
        },
    )
    migrated_home(home)
    shared, password = api_server_env(home, env, free_port())
    return home, shared, password


def deliver(base_url: str, event: dict[str, Any], key: str | None = KEY) -> httpx.Response:
    headers = {"Authorization": key} if key else {}
    return httpx.post(f"{base_url}/roboflow/webhooks", json=event, headers=headers, timeout=30)


def notification_events(api: AirflowAPI) -> list[dict[str, Any]]:
    assets = api.get(f"/api/v2/assets?name_pattern={NOTIFICATIONS_ASSET_NAME}")["assets"]
    if not assets:
        return []
    return api.get(f"/api/v2/assets/events?asset_id={assets[0]['id']}&limit=100")["asset_events"]


async def watch_scenario(base_url: str) -> tuple[bool, bool]:
    watch = NotificationWatch(base_url + WATCH_PATH, KEY, {"batch_id": "it-batch-woken"}, check_interval=0.5)
    event = {
        "type": "roboflow-data-staging-notification-v1",
        "event_id": "staging-event-1",
        "batch_id": "it-batch-woken",
        "ingest_id": "i-1",
        "notification": {"type": "ingest-status-notification-v1", "success": True},
    }
    quiet = await watch.sleep(1.0)
    checks = watch.checks
    waiting = asyncio.create_task(watch.sleep(240))
    while watch.checks == checks:  # until the waiting watch has looked once and found nothing new
        await asyncio.sleep(0.05)
    await asyncio.to_thread(deliver, base_url, event)
    return quiet, await waiting


def test_duplicates_and_a_restart_leave_one_event(api_home: tuple[Path, dict[str, str], str]) -> None:
    home, shared, password = api_home
    server = start_api_server(home, shared)
    try:
        base = server.url
        refused = deliver(base, JOB_EVENT, key=None)
        wrong = deliver(base, JOB_EVENT, key="rf_pub_someone_else")
        # Redeliveries racing on both api-server workers.
        with ThreadPoolExecutor(6) as pool:
            answers = list(
                pool.map(lambda n: deliver(base, {**JOB_EVENT, "delivery_attempt": n}), range(1, 7))
            )
    finally:
        server.stop()

    assert (refused.status_code, wrong.status_code) == (401, 401)
    assert sorted(a.json()["status"] for a in answers) == ["accepted"] + ["duplicate"] * 5

    server = start_api_server(home, shared)
    try:
        after_restart = deliver(server.url, {**JOB_EVENT, "delivery_attempt": 7})
        other = deliver(server.url, {**JOB_EVENT, "event_id": "second-event", "job_state": "fail"})
        events = notification_events(AirflowAPI(server.url, "admin", password))
        watched = httpx.get(
            f"{server.url}{WATCH_PATH}", params={"job_id": "it-job-1"}, headers={"Authorization": KEY}
        ).json()
        quiet, woken = asyncio.run(watch_scenario(server.url))
    finally:
        server.stop()

    assert after_restart.json()["status"] == "duplicate"
    assert other.json()["status"] == "accepted"
    assert sorted(e["extra"]["event_id"] for e in events) == sorted([JOB_EVENT["event_id"], "second-event"])
    first = next(e for e in events if e["extra"]["event_id"] == JOB_EVENT["event_id"])
    assert first["extra"]["job_state"] == "success"
    assert first["extra"]["payload"]["job_id"] == "it-job-1"
    assert watched["count"] == 2 and watched["last_state"] == "fail"
    # A deferred wait's pause runs its full length when nothing arrives and ends on a notification.
    assert (quiet, woken) == (False, True)
