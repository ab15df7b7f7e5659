"""The steps of a pipeline after the listing, mapped over the window's chunks.

``list_new_objects`` (a bucket) or ``list_local_files`` (a local directory) splits the window into
references files or file lists of at most ``max_batch_objects``;
``plan_chunks`` names a batch, a job and an export folder for each; ``ingest`` ... ``export`` are
mapped over those chunks (dynamic task mapping, one task instance per chunk and step), and
``reconcile`` checks that the chunks together account for every object listed. A window whose
objects were all skipped has zero chunks: the mapped steps are skipped (no batch, no job) and
``reconcile`` writes its manifest of skipped objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import task

from include.roboflow_batch.pipeline.chunks import (
    batch_ready_kwargs,
    export_kwargs,
    ingest_kwargs,
    job_wait_kwargs,
    local_export_kwargs,
    local_ingest_kwargs,
    plan_chunks_task,
    same_chunk,
    same_chunk_json,
    start_job_kwargs,
)
from include.roboflow_batch.pipeline.combine_task import RECONCILE_TRIGGER_RULE, reconcile_chunks
from include.roboflow_batch.pipeline.connections import export_conn_id, references_conn_id
from include.roboflow_batch.pipeline.step_options import batch_ready_options, export_options, job_wait_options

if TYPE_CHECKING:
    from include.roboflow_batch.pipeline.schema import GCSSource, LocalSource, PipelineConfig, S3Source


def fan_out_steps(
    pipeline: PipelineConfig,
    source: S3Source | GCSSource | LocalSource,
    plan: Any,
    listing: Any,
    *,
    roboflow: Mapping[str, Any],
    job_options: Mapping[str, Any],
    local_directory: str | None = None,
    processed_content: tuple[str | None, str | None] = (None, None),
) -> list[Any]:
    """``[plan_chunks, ingest, wait_for_batch, start_job, wait_for_job, export, reconcile]``.

    ``listing`` is the listing task's output; with ``local_directory`` its chunks are file lists of
    that directory instead of references files. ``processed_content``: the folder URI and connection
    of the processed-content record that ``reconcile`` adds the window's content to.
    """
    from include.roboflow_batch.api.jobs import RestartOverrides
    from include.roboflow_batch.export.results_asset import results_asset
    from include.roboflow_batch.jobs.ledger import JOB_HISTORY_XCOM_KEY
    from include.roboflow_batch.operators.export import RoboflowExportOperator
    from include.roboflow_batch.operators.ingest import RoboflowIngestOperator
    from include.roboflow_batch.operators.start_job import RoboflowStartJobOperator
    from include.roboflow_batch.sensors.batch_ready import RoboflowBatchReadySensor
    from include.roboflow_batch.sensors.job import RoboflowJobSensor

    chunks = task(task_id="plan_chunks", doc_md="One batch, job and export folder per chunk.")(
        plan_chunks_task
    )(plan=plan, listing=listing)
    if local_directory is None:
        read_from: dict[str, Any] = {"references_conn_id": references_conn_id(pipeline)}
    else:
        read_from = {"local_directory": local_directory}
    ingest = RoboflowIngestOperator.partial(
        task_id="ingest",
        media_type=source.media,
        notifications_url=pipeline.webhook_url,
        **read_from,
        **roboflow,
    ).expand_kwargs(chunks.map(ingest_kwargs if local_directory is None else local_ingest_kwargs))
    wait_for_batch = RoboflowBatchReadySensor.partial(
        task_id="wait_for_batch",
        expected_count=same_chunk("ingest", "expected_count"),
        **batch_ready_options(pipeline),
        **roboflow,
    ).expand_kwargs(chunks.map(batch_ready_kwargs))
    start_job = RoboflowStartJobOperator.partial(
        task_id="start_job",
        workflow_id=pipeline.workflow.id,
        media_type=source.media,
        # A manual run's param overrides astro.yaml.
        on_changed_definition=(
            f"{{{{ params.on_changed_definition or '{pipeline.job.on_changed_definition}' }}}}"
        ),
        max_restarts=pipeline.job.max_restarts,
        # Restarts made by the wait count against the same budget.
        known_job_history=same_chunk_json("wait_for_job", JOB_HISTORY_XCOM_KEY),
        **job_options,
        **roboflow,
    ).expand_kwargs(chunks.map(start_job_kwargs))
    # The job start_job started or re-attached to: a new attempt has an id of its own.
    started: Any = start_job.output
    wait_for_job = RoboflowJobSensor.partial(
        task_id="wait_for_job",
        # A retried or cleared wait restarts a failed job itself, with what a restart can carry.
        max_restarts=pipeline.job.max_restarts,
        job_history=same_chunk_json("start_job", JOB_HISTORY_XCOM_KEY),
        restart_options={
            name: job_options[name] for name in RestartOverrides.model_fields if name in job_options
        },
        **job_wait_options(pipeline),
        **roboflow,
    ).expand_kwargs(started.map(job_wait_kwargs))
    export = RoboflowExportOperator.partial(
        task_id="export",
        expected_count=same_chunk("ingest", "expected_count"),
        references_conn_id=read_from.get("references_conn_id"),
        # The wait publishes the whole history: the start task's events and its own restarts.
        job_history=same_chunk_json("wait_for_job", JOB_HISTORY_XCOM_KEY),
        **export_options(pipeline),
        **roboflow,
    ).expand_kwargs(
        chunks.zip(started).map(export_kwargs if local_directory is None else local_export_kwargs)
    )
    # At run time Airflow resolves these XComArgs to the lists the reconcile function is typed for.
    chunk_list: Any = chunks
    export_list: Any = export.output
    # One results event per window, once the window's manifest is known to reconcile (also for a
    # window of skipped objects only: its manifest landed, with no rows).
    reconcile = task(
        task_id="reconcile",
        doc_md="One manifest across every chunk of the window.",
        outlets=[results_asset(pipeline.id)],
        trigger_rule=RECONCILE_TRIGGER_RULE,
    )(reconcile_chunks)(
        plan=plan,
        listing=listing,
        chunks=chunk_list,
        exports=export_list,
        started=started,
        destination_conn_id=export_conn_id(pipeline),
        skipped_conn_id=read_from.get("references_conn_id"),
        processed_content=processed_content[0],
        processed_content_conn_id=processed_content[1],
    )
    return [chunks, ingest, wait_for_batch, start_job, wait_for_job, export, reconcile]
