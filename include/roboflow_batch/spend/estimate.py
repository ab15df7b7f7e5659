"""The estimate: machine-seconds a window will take, learned from the pipeline's own finished jobs.

Each finished job gives one observation: how many objects it held and how many machine-seconds the
job's own API fields say it used (``jobs.machine_time``). The model is ``seconds = per_job + per_object
x objects`` per media type and machine type, fitted by least squares over the latest jobs (both
terms at least zero), so a fixed start-up cost per job does not inflate large windows. With one job,
or jobs all of one size, it is the plain ratio. Without any job of the same media and machine type,
the cold-start value applies (``COLD_START_SECONDS_PER_OBJECT``, an assumption: docs/costs.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

#: Machine-seconds per object before a pipeline has history: an image about a second on a CPU
#: machine, a video (short clip, sampled) about a minute; GPUs four times faster. Assumptions,
#: deliberately on the high side so that a first run is more likely stopped by a budget than surprised.
COLD_START_SECONDS_PER_OBJECT: dict[tuple[str, str], float] = {
    ("images", "cpu"): 1.0,
    ("images", "gpu"): 0.25,
    ("videos", "cpu"): 60.0,
    ("videos", "gpu"): 15.0,
}
DEFAULT_HISTORY_JOBS = 20


@dataclass(frozen=True)
class Observation:
    """One finished job: its objects and the machine-seconds it used."""

    objects: int
    machine_seconds: float


@dataclass(frozen=True)
class CostModel:
    """``seconds = per_job + per_object x objects``, and where the numbers come from."""

    per_job: float
    per_object: float
    basis: Literal["history", "cold-start"]
    jobs: int = 0

    def seconds(self, objects: int, jobs: int = 1) -> float:
        """Machine-seconds for ``objects`` in ``jobs`` jobs (a window fanned out into chunks)."""
        if objects <= 0:
            return 0.0
        return self.per_job * max(jobs, 1) + self.per_object * objects

    def describe(self) -> str:
        if self.basis == "cold-start":
            return f"cold start: {self.per_object:g} machine-s per object (no finished job yet)"
        return f"learned from {self.jobs} finished job(s): {self.per_object:.4g} machine-s per object" + (
            f" + {self.per_job:.4g} s per job" if self.per_job else ""
        )


def fit(observations: Sequence[Observation]) -> tuple[float, float]:
    """``(per_job, per_object)``, both >= 0, by least squares."""
    usable = [o for o in observations if o.objects > 0 and o.machine_seconds >= 0]
    if not usable:
        raise ValueError("no observation with objects")
    n = len(usable)
    total_objects = sum(o.objects for o in usable)
    total_seconds = sum(o.machine_seconds for o in usable)
    ratio = (0.0, total_seconds / total_objects)
    mean_x, mean_y = total_objects / n, total_seconds / n
    spread = sum((o.objects - mean_x) ** 2 for o in usable)
    if n < 2 or spread == 0:
        return ratio
    slope = sum((o.objects - mean_x) * (o.machine_seconds - mean_y) for o in usable) / spread
    intercept = mean_y - slope * mean_x
    if slope <= 0:
        return (max(mean_y, 0.0), 0.0) if total_seconds else ratio
    if intercept < 0:
        # Through the origin: the least-squares slope with no per-job term.
        squares = sum(o.objects**2 for o in usable)
        return 0.0, sum(o.objects * o.machine_seconds for o in usable) / squares
    return intercept, slope


def cost_model(
    observations: Sequence[Observation],
    media_type: str,
    machine_type: str,
    cold_start_per_object: float | None = None,
) -> CostModel:
    """The model for the pipeline's media and machine type, from its observations or the cold start."""
    usable = [o for o in observations if o.objects > 0]
    if usable:
        per_job, per_object = fit(usable)
        return CostModel(per_job, per_object, "history", len(usable))
    default = COLD_START_SECONDS_PER_OBJECT[(media_type, machine_type)]
    return CostModel(
        0.0, cold_start_per_object if cold_start_per_object is not None else default, "cold-start"
    )
