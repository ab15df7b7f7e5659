"""How much machine time the emulated Batch Processing machines spend, and the service's time ceiling.

Roboflow bills a job by machine time: every processing task runs on a machine, several at once, and
``processingTimeoutSeconds`` caps the time of all of them together, divided evenly over the job's
tasks (one per shard or video). The emulator models that so the pipeline's estimate can be measured
against it:

- a task spends ``task_start_seconds`` before its first file (machine start, model load);
- each image costs ``seconds_per_image`` times a factor from 0.75 to 1.25 fixed by its bytes (some
  images take longer than others), each sampled video frame ``seconds_per_image``;
- a GPU machine is ``gpu_speedup`` times faster;
- a task takes at most ``images_per_task`` images of one shard (256, the shard size, by default);
- a task whose machine time would pass its share of the ceiling stops at the share and fails with a
  timeout; its files are not processed.

The machine time is real: the task sleeps it, so the timestamps the API reports (a task's
``task-started`` log and its ``eventTimestamp``) show it, as the service's do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from include.roboflow_emulator.config import SHARD_SIZE

# The factor's spread around 1: the cheapest file costs 0.75, the dearest 1.25 of the nominal time.
_SPREAD = 0.5
_FIELDS = {
    "secondsPerImage": "seconds_per_image",
    "taskStartSeconds": "task_start_seconds",
    "gpuSpeedup": "gpu_speedup",
    "imagesPerTask": "images_per_task",
}


@dataclass
class MachineModel:
    seconds_per_image: float = 0.0
    task_start_seconds: float = 0.0
    gpu_speedup: float = 4.0
    # At most this many images per processing task (the shard size caps it too).
    images_per_task: int = SHARD_SIZE

    def _speed(self, machine_type: str | None) -> float:
        return self.gpu_speedup if machine_type == "gpu" else 1.0

    def start_seconds(self, machine_type: str | None) -> float:
        return self.task_start_seconds / self._speed(machine_type)

    def file_seconds(self, content: bytes, frames: int | None, machine_type: str | None) -> float:
        """Machine time of one file: an image by its bytes, a video by the frames it sampled."""
        if frames is not None:
            nominal = self.seconds_per_image * frames
        else:
            digest = hashlib.sha256(content).digest()
            nominal = self.seconds_per_image * (1 - _SPREAD / 2 + _SPREAD * digest[0] / 255)
        return nominal / self._speed(machine_type)

    def to_json(self) -> dict[str, float]:
        return {wire: getattr(self, name) for wire, name in _FIELDS.items()}

    def update(self, body: dict[str, Any]) -> MachineModel:
        """Apply ``POST /__emulator__/machines`` (any of the wire names); ``ValueError`` naming a bad one."""
        unknown = sorted(set(body) - set(_FIELDS))
        if unknown:
            raise ValueError(f"Unknown machine settings {unknown}; allowed: {sorted(_FIELDS)}.")
        values: dict[str, float] = {}
        for wire, value in body.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{wire} must be a non-negative number, got {value!r}.")
            if wire == "gpuSpeedup" and value <= 0:
                raise ValueError(f"gpuSpeedup must be positive, got {value!r}.")
            if wire == "imagesPerTask" and (not float(value).is_integer() or value < 1):
                raise ValueError(f"imagesPerTask must be a whole number of at least 1, got {value!r}.")
            values[_FIELDS[wire]] = int(value) if wire == "imagesPerTask" else float(value)
        for name, value in values.items():
            setattr(self, name, value)
        return self


def timeout_share(timeout: float | None, tasks: int) -> float | None:
    """Each task's share of ``processingTimeoutSeconds`` (None: no ceiling)."""
    return timeout / tasks if timeout else None
