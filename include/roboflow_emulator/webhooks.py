"""Webhook delivery as docs/roboflow-api.md §4: POST JSON, `Authorization: <publishable key>`,
redelivery of the same `event_id` with an increasing `delivery_attempt` on non-2xx or time-out.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from include.roboflow_emulator.faults import FaultInjector
from include.roboflow_emulator.state import Store, WebhookDelivery

log = logging.getLogger(__name__)

# Webhook receivers are never reached through a proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class WebhookSender:
    def __init__(
        self,
        store: Store,
        faults: FaultInjector,
        publishable_key: str,
        *,
        attempts: int = 4,
        timeout: float = 2.0,
        backoff: float = 0.2,
    ) -> None:
        self._store = store
        self._faults = faults
        self._publishable_key = publishable_key
        self._attempts = max(1, attempts)
        self._timeout = timeout
        self._backoff = backoff
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="webhook")

    def send(self, url: str, payload: dict[str, Any]) -> str:
        """Queue one event (its `event_id` and `delivery_attempt` are filled in); returns the event id."""
        event_id = str(uuid.uuid4())
        event = {**payload, "event_id": event_id}
        self._pool.submit(self._deliver, url, event, self._store.epoch)
        if self._faults.duplicate_webhooks():
            self._pool.submit(self._deliver, url, event, self._store.epoch)
        return event_id

    def _post(self, url: str, body: dict[str, Any]) -> str:
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": self._publishable_key},
        )
        try:
            with _OPENER.open(request, timeout=self._timeout) as response:
                return str(response.status)
        except urllib.error.HTTPError as exc:
            return str(exc.code)
        except (OSError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"

    def _deliver(self, url: str, event: dict[str, Any], epoch: int) -> None:
        for attempt in range(1, self._attempts + 1):
            if self._store.epoch != epoch:
                return  # the emulator was reset: the event belongs to a forgotten world
            outcome = self._post(url, {**event, "delivery_attempt": attempt})
            with self._store.lock:
                self._store.webhook_deliveries.append(
                    WebhookDelivery(event["event_id"], str(event.get("type")), url, attempt, outcome)
                )
            if outcome.isdigit() and 200 <= int(outcome) < 300:
                return
            if attempt < self._attempts:
                time.sleep(self._backoff * 2 ** (attempt - 1))
        log.warning(
            "Webhook %s to %s not delivered after %d attempts", event["event_id"], url, self._attempts
        )

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
