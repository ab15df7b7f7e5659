"""Deterministic fault injection on the public API.

Every public API request draws from one seeded random stream in arrival order, so a given seed
and request sequence always produce the same faults. A faulted request changes nothing, except
with `dropAfterWriteRate`, where a write is applied and its response is then dropped.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field

from include.roboflow_emulator.settings_update import updated_copy

FAULT_STATUSES = (429, 500, 502, 503)


@dataclass
class FaultSettings:
    rate: float = 0.0
    statuses: list[int] = field(default_factory=lambda: list(FAULT_STATUSES))
    latency_ms: int = 0
    drop_rate: float = 0.0
    drop_after_write_rate: float = 0.0
    duplicate_webhooks: bool = False
    seed: int = 0
    # Added to every download through a signed URL (a slow object store); never draws from the stream.
    download_latency_ms: int = 0

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        return {
            "rate": data["rate"],
            "statuses": data["statuses"],
            "latencyMs": data["latency_ms"],
            "dropRate": data["drop_rate"],
            "dropAfterWriteRate": data["drop_after_write_rate"],
            "duplicateWebhooks": data["duplicate_webhooks"],
            "seed": data["seed"],
            "downloadLatencyMs": data["download_latency_ms"],
        }


_WIRE_NAMES = {
    "rate": "rate",
    "statuses": "statuses",
    "latencyMs": "latency_ms",
    "dropRate": "drop_rate",
    "dropAfterWriteRate": "drop_after_write_rate",
    "duplicateWebhooks": "duplicate_webhooks",
    "seed": "seed",
    "downloadLatencyMs": "download_latency_ms",
}


def _fraction(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}.")
    return float(value)


def parse_fault_update(body: dict[str, object], current: FaultSettings) -> FaultSettings:
    """A new FaultSettings from `current` with the wire-named fields of `body` applied."""
    updated = updated_copy(body, current, _WIRE_NAMES, "fault settings")
    for wire, value in body.items():
        if wire in ("rate", "dropRate", "dropAfterWriteRate"):
            setattr(updated, _WIRE_NAMES[wire], _fraction(wire, value))
        elif wire == "statuses":
            if not isinstance(value, list) or not value or any(s not in FAULT_STATUSES for s in value):
                raise ValueError(f"statuses must be a non-empty list drawn from {list(FAULT_STATUSES)}.")
            updated.statuses = [int(s) for s in value]
        elif wire in ("latencyMs", "seed", "downloadLatencyMs"):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{wire} must be a non-negative integer, got {value!r}.")
            setattr(updated, _WIRE_NAMES[wire], value)
        elif wire == "duplicateWebhooks":
            if not isinstance(value, bool):
                raise ValueError(f"duplicateWebhooks must be true or false, got {value!r}.")
            updated.duplicate_webhooks = value
    return updated


@dataclass(frozen=True)
class FaultDecision:
    latency_seconds: float = 0.0
    status: int | None = None
    drop: bool = False
    drop_after_write: bool = False

    @property
    def kind(self) -> str | None:
        if self.drop:
            return "drop"
        if self.status is not None:
            return str(self.status)
        if self.drop_after_write:
            return "dropAfterWrite"
        return None


class FaultInjector:
    def __init__(self, settings: FaultSettings | None = None) -> None:
        self._lock = threading.Lock()
        self._settings = settings or FaultSettings()
        self._random = random.Random(self._settings.seed)

    @property
    def settings(self) -> FaultSettings:
        with self._lock:
            return self._settings

    def update(self, body: dict[str, object]) -> FaultSettings:
        with self._lock:
            new = parse_fault_update(body, self._settings)
            # A new seed (or any change) restarts the stream so runs are reproducible.
            self._settings = new
            self._random = random.Random(new.seed)
            return new

    def decide(self, is_write: bool) -> FaultDecision:
        """The faults for one request; always draws the same number of values per request."""
        with self._lock:
            s = self._settings
            draw_drop, draw_status, draw_pick, draw_after = (self._random.random() for _ in range(4))
            latency = s.latency_ms / 1000.0
            if draw_drop < s.drop_rate:
                return FaultDecision(latency, drop=True)
            if draw_status < s.rate:
                return FaultDecision(latency, status=s.statuses[int(draw_pick * len(s.statuses))])
            if is_write and draw_after < s.drop_after_write_rate:
                return FaultDecision(latency, drop_after_write=True)
            return FaultDecision(latency)

    def duplicate_webhooks(self) -> bool:
        return self.settings.duplicate_webhooks
