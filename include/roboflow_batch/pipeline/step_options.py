"""Operator arguments taken from astro.yaml that a step has whether it runs once or once per chunk.

The local-directory chain (``factory``) and the mapped chain (``fan_out``) both build their waits
and exports from these, so an option reaches every pipeline the same way.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from include.roboflow_batch import task_ids
from include.roboflow_batch.pipeline.connections import export_conn_id
from include.roboflow_batch.pipeline.schema import PipelineConfig

# How often a deferred wait asks the webhook receiver whether a notification arrived.
NOTIFICATION_CHECK_SECONDS = 1.0


def wait_interval_options(pipeline: PipelineConfig, task_id: str, poke_interval: timedelta) -> dict[str, Any]:
    """How often and how a wait asks Roboflow: its own interval, or with webhooks (deferred waits
    only) the slow fallback interval while it checks the receiver for a notification every second.

    Without a triggerer the wait runs in reschedule mode, set here so the mapped task shows it too.
    """
    from include.roboflow_batch.sensors.waiting import waiting_arguments

    if pipeline.webhook_url and pipeline.deferrable:
        return {
            "poke_interval": pipeline.webhook_fallback_interval.total_seconds(),
            "notification_check_interval": NOTIFICATION_CHECK_SECONDS,
        }
    seconds, mode = waiting_arguments(task_id, pipeline.deferrable, poke_interval.total_seconds(), {})
    return {"poke_interval": seconds, **mode}


def batch_ready_options(pipeline: PipelineConfig) -> dict[str, Any]:
    """``RoboflowBatchReadySensor``: failure tolerance and how to wait."""
    return {
        "max_failure_rate": pipeline.readiness.max_failure_rate,
        "deferrable": pipeline.deferrable,
        "timeout": pipeline.readiness.timeout.total_seconds(),
        **wait_interval_options(pipeline, task_ids.WAIT_FOR_BATCH, pipeline.readiness.poke_interval),
    }


def job_wait_options(pipeline: PipelineConfig) -> dict[str, Any]:
    """``RoboflowJobSensor``: how to wait for the job."""
    return {
        "deferrable": pipeline.deferrable,
        "timeout": pipeline.job.wait_timeout.total_seconds(),
        **wait_interval_options(pipeline, task_ids.WAIT_FOR_JOB, pipeline.job.poke_interval),
    }


def export_options(pipeline: PipelineConfig) -> dict[str, Any]:
    """``RoboflowExportOperator``: where and what to export, and how fast."""
    return {
        "destination_conn_id": export_conn_id(pipeline),
        "stage": pipeline.export.stage,
        "max_concurrency": pipeline.export.max_concurrency,
        "transfer_processes": pipeline.export.transfer_processes,
    }
