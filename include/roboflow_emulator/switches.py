"""Service behaviours a test switches on through `POST /__emulator__/switches` (wire names in camelCase).

- ``creditsExhausted``: job creation (B3) answers 429 with the credits message, checked before the
  duplicate-job check as the service does, so a retry of a creation meets it too.
- ``jobStartLatencySeconds``: a new or restarted job waits this long, with no current stage, before
  its first stage starts (the service provisions machines for 3-8 minutes, longer under load).
- ``expiredBatchIds``: what an upload or ingest into the id of an expired batch does: ``reuse``
  starts a new, empty batch under that id (the contract: batches are created on first use, an
  expired one is gone); ``refuse`` answers 409, for clients that must cope with a service that
  keeps expired ids reserved.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from include.roboflow_emulator.settings_update import updated_copy

#: The message of the credits 429, in the words Roboflow's other APIs use when credits run out.
CREDITS_MESSAGE = "Not enough credits to perform this request. Verify your workspace billing page."
EXPIRED_BATCH_ID_POLICIES = ("reuse", "refuse")


@dataclass
class ServiceSwitches:
    credits_exhausted: bool = False
    job_start_latency: float = 0.0
    expired_batch_ids: str = "reuse"

    def to_json(self) -> dict[str, object]:
        return {wire: getattr(self, name) for wire, name in _WIRE_NAMES.items()}


_WIRE_NAMES = {
    "creditsExhausted": "credits_exhausted",
    "jobStartLatencySeconds": "job_start_latency",
    "expiredBatchIds": "expired_batch_ids",
}


def parse_switch_update(body: dict[str, object], current: ServiceSwitches) -> ServiceSwitches:
    """A new ServiceSwitches from ``current`` with the wire-named fields of ``body`` applied."""
    updated = updated_copy(body, current, _WIRE_NAMES, "switches")
    for wire, value in body.items():
        if wire == "creditsExhausted":
            if not isinstance(value, bool):
                raise ValueError(f"creditsExhausted must be true or false, got {value!r}.")
            updated.credits_exhausted = value
        elif wire == "jobStartLatencySeconds":
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"jobStartLatencySeconds must be a number >= 0, got {value!r}.")
            updated.job_start_latency = float(value)
        elif wire == "expiredBatchIds":
            if value not in EXPIRED_BATCH_ID_POLICIES:
                raise ValueError(
                    f"expiredBatchIds must be one of {list(EXPIRED_BATCH_ID_POLICIES)}, got {value!r}."
                )
            updated.expired_batch_ids = str(value)
    return updated


class SwitchBoard:
    """The current switches, read by the services on every request and replaced as a whole."""

    def __init__(self, switches: ServiceSwitches | None = None) -> None:
        self._lock = threading.Lock()
        self._switches = switches or ServiceSwitches()

    @property
    def current(self) -> ServiceSwitches:
        with self._lock:
            return self._switches

    def update(self, body: dict[str, object]) -> ServiceSwitches:
        with self._lock:
            self._switches = parse_switch_update(body, self._switches)
            return self._switches
