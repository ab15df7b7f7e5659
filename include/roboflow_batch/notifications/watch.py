"""The cheap "anything new?" check of a deferred wait (async I/O only; runs in the triggerer).

With notifications configured, a wait asks the Roboflow API only every ``fallback_interval`` seconds
and, in between, asks this project's own receiver on the Airflow API server every ``check_interval``
seconds whether a notification arrived for its batch or job (one primary-key read there). A new
notification ends the pause at once: the wait then asks the Roboflow API, which stays the source of
truth. A missed notification costs only time: the fallback poll still ends the wait.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

log = logging.getLogger(__name__)

WATCH_PATH = "/roboflow/webhooks/watch"


def receiver_watch_url() -> str | None:
    """The watch endpoint on this deployment's API server (``[api] base_url``), if one is configured."""
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="") or ""
    return base.rstrip("/") + WATCH_PATH if base else None


class NotificationWatch:
    """Sleeps like ``asyncio.sleep`` but wakes early when a notification for ``subject`` arrives.

    ``subject`` is ``{"batch_id": ...}`` or ``{"job_id": ...}``. Failures of the receiver are logged
    once and turn the watch into plain sleeping: notifications speed waits up, never break them.
    """

    def __init__(
        self, url: str, publishable_key: str, subject: dict[str, str], check_interval: float = 1.0
    ) -> None:
        self.url = url
        self.subject = subject
        self.check_interval = check_interval
        self._headers = {"Authorization": publishable_key}
        self._seen: int | None = None
        self._broken = False
        self.checks = 0

    async def count(self, client: httpx.AsyncClient) -> int | None:
        self.checks += 1
        try:
            response = await client.get(self.url, params=self.subject, headers=self._headers)
            response.raise_for_status()
            return int(response.json()["count"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            if not self._broken:
                log.warning(
                    "Notification check at %s failed (%s); polling only", self.url, type(error).__name__
                )
            self._broken = True
            return None

    async def sleep(self, seconds: float) -> bool:
        """Pause up to ``seconds``; True when it ended early because a new notification arrived."""
        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            if self._seen is None and not self._broken:
                self._seen = await self.count(client)
            while not self._broken:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                await asyncio.sleep(min(self.check_interval, remaining))
                current = await self.count(client)
                if current is not None and self._seen is not None and current > self._seen:
                    self._seen = current
                    return True
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        return False


async def open_watch(
    roboflow_conn_id: str, subject: dict[str, str], check_interval: float | None
) -> NotificationWatch | None:
    """The watch of one deferred wait, or None (plain polling) when notifications are not set up:
    no check interval asked for, no API-server URL, or no publishable key on the connection."""
    if not check_interval:
        return None
    url = receiver_watch_url()
    if url is None:
        return None
    from include.roboflow_batch.hooks.roboflow import RoboflowHook

    settings = await RoboflowHook(roboflow_conn_id=roboflow_conn_id).aget_settings()
    if not settings.publishable_key:
        log.warning("Connection %r has no publishable_key: waiting by polling only", roboflow_conn_id)
        return None
    return NotificationWatch(url, settings.publishable_key, subject, check_interval)


async def pause(watch: NotificationWatch | None, seconds: float) -> bool:
    """``asyncio.sleep(seconds)``, cut short by a new notification when there is a watch."""
    if watch is None:
        await asyncio.sleep(seconds)
        return False
    return await watch.sleep(seconds)
