"""The notification envelope (docs/roboflow-api.md §4) and the Asset its events are recorded on.

No Airflow database access here: the receiver, the store and the waits all share these names.
"""

from __future__ import annotations

import hmac
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Schedule a DAG on Roboflow notifications with ``schedule=[Asset(NOTIFICATIONS_ASSET_URI,
# name=NOTIFICATIONS_ASSET_NAME)]``; each distinct notification is one event, payload in extra.
NOTIFICATIONS_ASSET_NAME = "roboflow_notifications"
NOTIFICATIONS_ASSET_URI = "roboflow://notifications"

# A real notification is well under 1 KiB except a files-status list, which Roboflow truncates.
MAX_BODY_BYTES = 256 * 1024

KEY_ENV = "ROBOFLOW_WEBHOOK_PUBLISHABLE_KEY"


class Notification(BaseModel):
    """The envelope every Roboflow notification shares (data staging and batch jobs)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(min_length=1, max_length=200)
    event_id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:-]+$")
    delivery_attempt: int = Field(default=1, ge=1)
    batch_id: str | None = Field(default=None, max_length=200)
    ingest_id: str | None = Field(default=None, max_length=200)
    job_id: str | None = Field(default=None, max_length=200)
    job_state: str | None = Field(default=None, max_length=50)

    def watch_keys(self) -> list[str]:
        """The keys a deferred wait looks up: one per batch and per job the event is about."""
        keys = []
        if self.batch_id:
            keys.append(watch_key(batch_id=self.batch_id))
        if self.job_id:
            keys.append(watch_key(job_id=self.job_id))
        return keys

    def to_extra(self) -> dict[str, Any]:
        """The Asset event's extra: the headline fields plus the whole payload."""
        payload = self.model_dump(mode="json")
        payload.pop("delivery_attempt", None)  # differs between redeliveries of one event
        return {
            "event_id": self.event_id,
            "type": self.type,
            "batch_id": self.batch_id,
            "job_id": self.job_id,
            "job_state": self.job_state,
            "payload": payload,
        }


def watch_key(*, batch_id: str | None = None, job_id: str | None = None) -> str:
    if (batch_id is None) == (job_id is None):
        raise ValueError("watch_key needs exactly one of batch_id and job_id")
    return f"batch:{batch_id}" if batch_id is not None else f"job:{job_id}"


def key_matches(authorization: str | None, expected: str) -> bool:
    """Constant-time comparison of an ``Authorization`` header (optional ``Bearer ``) with the key."""
    given = (authorization or "").strip().removeprefix("Bearer ").strip()
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())
