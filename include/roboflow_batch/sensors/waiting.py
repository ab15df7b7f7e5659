"""How a sensor waits when it cannot defer: reschedule mode, at a pace the scheduler can follow.

In reschedule mode every poke ends the task process and the scheduler queues the task again at the
reschedule date. If that date passes before the scheduler has processed the executor's "finished"
event of the previous poke, the scheduler sees the task scheduled again for the same try and fails it
("finished with state success, but the task instance's state attribute is queued"). Pokes at least
``MIN_RESCHEDULE_INTERVAL`` apart leave the scheduler ample time to process that event first.
"""

from __future__ import annotations

import logging
from typing import Any

MIN_RESCHEDULE_INTERVAL = 60.0

log = logging.getLogger(__name__)


def waiting_arguments(
    task_id: str, deferrable: bool, poke_interval: float, kwargs: dict[str, Any]
) -> tuple[float, dict[str, Any]]:
    """``(poke_interval, kwargs)`` for ``BaseSensorOperator``: reschedule mode when not deferrable.

    An explicit ``mode`` is kept; in reschedule mode the poke interval is raised to the minimum.
    """
    if deferrable:
        return poke_interval, kwargs
    kwargs = {"mode": "reschedule", **kwargs}
    if kwargs["mode"] == "reschedule" and poke_interval < MIN_RESCHEDULE_INTERVAL:
        log.info(
            "%s: poke interval %.0fs raised to %.0fs in reschedule mode, so the scheduler follows each poke.",
            task_id,
            poke_interval,
            MIN_RESCHEDULE_INTERVAL,
        )
        poke_interval = MIN_RESCHEDULE_INTERVAL
    return poke_interval, kwargs
