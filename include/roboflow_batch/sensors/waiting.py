"""How a sensor waits when it cannot defer: reschedule mode, at a pace the scheduler can follow.

In reschedule mode every poke ends the task process and the scheduler queues the task again at the
reschedule date. If that date passes before the scheduler has processed the executor's "finished"
event of the previous poke, the scheduler sees the task scheduled again for the same try and fails it
("finished with state success, but the task instance's state attribute is queued"). Pokes at least
``MIN_RESCHEDULE_INTERVAL`` apart leave the scheduler ample time to process that event first.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, conf

from include.roboflow_batch.lineage import StepLineage

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


class RoboflowWaitSensor(StepLineage, BaseSensorOperator):
    """What the Roboflow waits share: the connection, deferral (or reschedule mode) and webhook wake-ups.

    :param roboflow_conn_id: the Roboflow connection.
    :param deferrable: wait on the triggerer instead of a worker slot; ``False`` reschedules the task
        between pokes (no slot held while waiting, pokes at least ``MIN_RESCHEDULE_INTERVAL`` apart).
    :param notification_check_interval: with webhooks set up, how often the deferred wait looks for a
        matching notification; ``poke_interval`` is then the slow fallback.
    """

    def __init__(
        self,
        *,
        poke_interval: float,
        timeout: float | timedelta,
        roboflow_conn_id: str = "roboflow_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=True),
        notification_check_interval: float | None = None,
        **kwargs: Any,
    ) -> None:
        task_id = kwargs.get("task_id", "")
        poke_interval, kwargs = waiting_arguments(task_id, deferrable, poke_interval, kwargs)
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.roboflow_conn_id = roboflow_conn_id
        self.deferrable = deferrable
        self.notification_check_interval = notification_check_interval
