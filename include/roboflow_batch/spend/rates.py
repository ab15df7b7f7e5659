"""What machine time costs: credits per machine-hour, per machine type.

Roboflow bills Batch Processing by machine time and states no exact price here; the defaults are the
"starting at" figures of one summary of its pricing page (docs/costs.md names the source and date).
They are assumptions until a workspace's own rates are set in astro.yaml (``cost.rates``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

MachineType = Literal["cpu", "gpu"]
#: The service runs jobs on CPU machines unless the job asks for GPUs.
DEFAULT_MACHINE: MachineType = "cpu"
DEFAULT_CREDITS_PER_HOUR: dict[str, float] = {"cpu": 1.0, "gpu": 4.0}
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Rates:
    """Credits per machine-hour of each machine type."""

    cpu: float = DEFAULT_CREDITS_PER_HOUR["cpu"]
    gpu: float = DEFAULT_CREDITS_PER_HOUR["gpu"]

    def per_hour(self, machine: str | None) -> float:
        return self.gpu if machine == "gpu" else self.cpu

    def credits(self, seconds: float, machine: str | None) -> float:
        """Credits ``seconds`` of machine time cost."""
        return seconds * self.per_hour(machine) / SECONDS_PER_HOUR

    def seconds(self, credits: float, machine: str | None) -> int:
        """Whole machine-seconds ``credits`` buy (rounded down: a ceiling never costs more)."""
        if credits <= 0:
            return 0
        # A hair under the exact product guards against 0.999... turning into one second less.
        return max(0, math.floor(credits * SECONDS_PER_HOUR / self.per_hour(machine) + 1e-9))
