"""Operator arguments taken from astro.yaml that a step has whether it runs once or once per chunk.

The local-directory chain (``factory``) and the mapped chain (``fan_out``) both build their waits
and exports from these, so an option reaches every pipeline the same way.
"""

from __future__ import annotations

from typing import Any

from include.roboflow_batch.pipeline.schema import PipelineConfig


def batch_ready_options(pipeline: PipelineConfig) -> dict[str, Any]:
    """``RoboflowBatchReadySensor``: failure tolerance and how to wait."""
    return {
        "max_failure_rate": pipeline.readiness.max_failure_rate,
        "deferrable": pipeline.deferrable,
        "poke_interval": pipeline.readiness.poke_interval.total_seconds(),
        "timeout": pipeline.readiness.timeout.total_seconds(),
    }


def job_wait_options(pipeline: PipelineConfig) -> dict[str, Any]:
    """``RoboflowJobSensor``: how to wait for the job."""
    return {
        "deferrable": pipeline.deferrable,
        "poke_interval": pipeline.job.poke_interval.total_seconds(),
        "timeout": pipeline.job.wait_timeout.total_seconds(),
    }


def export_options(pipeline: PipelineConfig) -> dict[str, Any]:
    """``RoboflowExportOperator``: where and what to export, and how fast."""
    return {
        "destination_conn_id": pipeline.export.conn_id,
        "stage": pipeline.export.stage,
        "max_concurrency": pipeline.export.max_concurrency,
    }
