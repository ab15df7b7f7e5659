"""`EmulatorHandle`: a running emulator as tests see it (credentials plus the control endpoints)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any, Protocol

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class _HasUrl(Protocol):
    @property
    def url(self) -> str: ...


class EmulatorHandle:
    def __init__(
        self,
        service: _HasUrl,
        api_key: str = "test-api-key",
        workspace: str = "demo-workspace",
        publishable_key: str = "rf_pub_demo",
    ) -> None:
        self.service = service
        self.api_key = api_key
        self.workspace = workspace
        self.publishable_key = publishable_key

    @property
    def base_url(self) -> str:
        return self.service.url.rstrip("/")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with _OPENER.open(request, timeout=10) as response:
            return json.loads(response.read())

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Fault settings by wire name: rate, statuses, latencyMs, dropRate, dropAfterWriteRate,
        duplicateWebhooks, seed (snake_case names are accepted too)."""
        wire = {_camel(name): value for name, value in settings.items()}
        return self._call("POST", "/__emulator__/faults", wire)

    def clear_faults(self) -> dict[str, Any]:
        return self.set_faults(
            rate=0.0, latencyMs=0, dropRate=0.0, dropAfterWriteRate=0.0, duplicateWebhooks=False
        )

    def set_switches(self, **switches: Any) -> dict[str, Any]:
        """Service switches by wire name: creditsExhausted, jobStartLatencySeconds, expiredBatchIds
        (snake_case names are accepted too)."""
        wire = {_camel(name): value for name, value in switches.items()}
        return self._call("POST", "/__emulator__/switches", wire)

    def clear_switches(self) -> dict[str, Any]:
        return self.set_switches(creditsExhausted=False, jobStartLatencySeconds=0, expiredBatchIds="reuse")

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the emulator's clock forward (batches expire by it); a reset puts it back."""
        return self._call("POST", "/__emulator__/clock", {"advanceSeconds": seconds})

    def set_delays(self, **seconds: float) -> dict[str, Any]:
        """``ingest_delay`` and/or ``stage_delay`` from now on, for the ingests and stages under way too:
        a long delay holds a job in its stage until a shorter one lets it go."""
        wire = {_camel(name): value for name, value in seconds.items()}
        return self._call("POST", "/__emulator__/delays", wire)

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/__emulator__/state")

    def digest(self) -> str:
        """A hash of the emulator's whole world (batches, jobs, uploads, deliveries; not counters)."""
        return str(self._call("GET", "/__emulator__/digest")["digest"])

    def set_machines(self, **settings: float) -> dict[str, Any]:
        """Machine-time model by wire or snake_case name: secondsPerImage, taskStartSeconds, gpuSpeedup."""
        return self._call("POST", "/__emulator__/machines", {_camel(k): v for k, v in settings.items()})

    def reset(self) -> dict[str, Any]:
        return self._call("POST", "/__emulator__/reset", {})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
