"""Receiver for Roboflow webhook notifications, mounted on the Airflow API server at ``/roboflow``.

Roboflow signs nothing: each delivery carries the workspace's *publishable* key in
``Authorization``, so that is what is checked (Airflow does not authenticate plugin apps).
Deliveries are redelivered with the same ``event_id``; each event is recorded once. Polling by the
sensors stays the source of truth: this receiver only makes notifications visible.

The key comes from ``ROBOFLOW_WEBHOOK_PUBLISHABLE_KEY`` or else the ``publishable_key`` extra of
the ``roboflow_default`` connection.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
from collections import OrderedDict
from typing import Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI, Header, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

KEY_ENV = "ROBOFLOW_WEBHOOK_PUBLISHABLE_KEY"
MAX_REMEMBERED_EVENTS = 10_000


class Notification(BaseModel):
    """The envelope every Roboflow notification shares (data staging and batch jobs)."""

    model_config = ConfigDict(extra="allow")

    type: str
    event_id: str = Field(min_length=1)
    delivery_attempt: int = 1
    batch_id: str | None = None
    job_id: str | None = None
    job_state: str | None = None


class EventLog:
    """The last ``capacity`` distinct events, in arrival order (per API-server worker)."""

    def __init__(self, capacity: int = MAX_REMEMBERED_EVENTS) -> None:
        self._events: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def add(self, event: Notification) -> bool:
        """Record ``event``; False when its ``event_id`` was already recorded."""
        with self._lock:
            if event.event_id in self._events:
                return False
            self._events[event.event_id] = event.model_dump()
            while len(self._events) > self._capacity:
                self._events.popitem(last=False)
            return True

    def recent(self, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events.values())[-limit:]


def publishable_key() -> str | None:
    configured = os.environ.get(KEY_ENV)
    if configured:
        return configured
    try:
        from airflow.sdk import BaseHook

        return BaseHook.get_connection("roboflow_default").extra_dejson.get("publishable_key") or None
    except Exception:  # no connection: every delivery is refused below
        return None


def create_app(key_lookup: Any = publishable_key, events: EventLog | None = None) -> FastAPI:
    app = FastAPI(title="Roboflow webhooks", description=__doc__)
    app.state.events = events or EventLog()

    def check_key(authorization: str | None) -> None:
        expected = key_lookup()
        if not expected:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no publishable key configured")
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong or missing publishable key")

    @app.post("/webhooks", status_code=status.HTTP_202_ACCEPTED)
    async def receive(
        notification: Notification, request: Request, authorization: str | None = Header(default=None)
    ) -> dict[str, str]:
        check_key(authorization)
        if not request.app.state.events.add(notification):
            return {"status": "duplicate", "event_id": notification.event_id}
        log.info(
            "Roboflow notification %s (%s) batch=%s job=%s state=%s attempt=%d",
            notification.event_id,
            notification.type,
            notification.batch_id,
            notification.job_id,
            notification.job_state,
            notification.delivery_attempt,
        )
        return {"status": "accepted", "event_id": notification.event_id}

    @app.get("/webhooks/events")
    async def recent_events(
        request: Request, limit: int = 100, authorization: str | None = Header(default=None)
    ) -> dict[str, list[dict[str, Any]]]:
        check_key(authorization)
        return {"events": request.app.state.events.recent(max(1, min(limit, 1000)))}

    return app


class RoboflowWebhooksPlugin(AirflowPlugin):
    name = "roboflow_webhooks"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/roboflow", "name": "Roboflow webhooks"}]
