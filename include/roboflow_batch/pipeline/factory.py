"""Build one Airflow DAG per astro.yaml pipeline: wire its tasks with the arguments ``step_arguments``
derives from the pipeline.

Each DAG is ``plan -> list_new_objects | list_local_files -> plan_chunks -> ingest -> wait_for_batch
-> start_job -> wait_for_job -> export -> reconcile``: ``plan`` fixes the window and derives the batch
id, job id and locations from it (so re-runs and backfills are idempotent); the listing skips the run
when nothing new arrived and splits the window into chunks of at most ``max_batch_objects``;
``plan_chunks`` names a batch, a job and an export folder for each; ``ingest`` ... ``export`` are
mapped over the chunks (one task instance per chunk and step), and ``reconcile`` checks that the
chunks together account for every object listed. A window whose objects were all skipped has zero
chunks: the mapped steps are skipped (no batch, no job) and ``reconcile`` writes its manifest of
skipped objects.

Each mapped step expands over the chunk plan or over what the previous step returned for the same
chunk (``pipeline/chunks.py``), so values reach it as values.
"""

from __future__ import annotations

import itertools
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, get_parsing_context, task

from include.roboflow_batch import task_ids
from include.roboflow_batch.pipeline.config_errors import PipelineConfigError
from include.roboflow_batch.pipeline.loader import LoadedPipelines, load_pipelines
from include.roboflow_batch.pipeline.schema import PipelineConfig
from include.roboflow_batch.pipeline.step_arguments import (
    GCSListingArguments,
    PipelineArguments,
    S3ListingArguments,
    pipeline_arguments,
)


def build_dag(pipeline: PipelineConfig, base_dir: Path) -> DAG:
    """The DAG of one validated pipeline (not registered anywhere: the caller decides)."""
    from include.roboflow_batch.pipeline.plan_task import plan_run

    arguments = pipeline_arguments(pipeline, base_dir)
    dag = DAG(schedule=arguments.dag.schedule, **arguments.dag.kwargs(), auto_register=False)
    with dag:
        # XComArgs: resolved at run time into the values the tasks are typed for.
        plan: Any = task(task_id=task_ids.PLAN, doc_md="Window, ids and locations of this run.")(plan_run)(
            spec=arguments.plan
        )
        listing, listing_output = _listing_task(arguments, plan)
        steps = [plan, listing, *_chunk_steps(arguments, plan, listing_output)]
        for upstream, downstream in itertools.pairwise(steps):
            upstream >> downstream
    return dag


def _listing_task(arguments: PipelineArguments, plan: Any) -> tuple[Any, Any]:
    """The listing task and its output: references files of a bucket, or file lists of a directory."""
    from include.roboflow_batch.operators.references import GCSReferencesOperator, S3ReferencesOperator
    from include.roboflow_batch.pipeline.local_listing import list_local_files

    listing = arguments.listing
    if not isinstance(listing, S3ListingArguments | GCSListingArguments):
        local: Any = task(
            task_id=task_ids.LIST_LOCAL_FILES, doc_md="The window's files, one list per batch."
        )(list_local_files)(spec=listing, plan=plan)
        return local, local
    operator = S3ReferencesOperator if isinstance(listing, S3ListingArguments) else GCSReferencesOperator
    references = operator(
        task_id=task_ids.LIST_NEW_OBJECTS,
        destination=plan["references_uri"],
        # The plan's window (params window_start / window_end / select_all included).
        select=plan["select"],
        interval_start=plan["window_start"],
        interval_end=plan["window_end"],
        # A repair run takes the window's unprocessed objects instead of listing the window.
        repair_of=plan["repair_of"],
        **listing.kwargs(),
    )
    return references, references.output


def _chunk_steps(arguments: PipelineArguments, plan: Any, listing: Any) -> list[Any]:
    """``[plan_chunks, ingest, wait_for_batch, start_job, wait_for_job, export, reconcile]``."""
    from include.roboflow_batch.export.results_asset import results_asset
    from include.roboflow_batch.operators.export import RoboflowExportOperator
    from include.roboflow_batch.operators.ingest import RoboflowIngestOperator
    from include.roboflow_batch.operators.start_job import RoboflowStartJobOperator
    from include.roboflow_batch.pipeline.chunks import (
        batch_wait_kwargs,
        export_kwargs,
        ingest_kwargs,
        job_wait_kwargs,
        local_export_kwargs,
        local_ingest_kwargs,
        plan_chunks_task,
        start_job_kwargs,
    )
    from include.roboflow_batch.pipeline.combine_task import RECONCILE_TRIGGER_RULE, reconcile_chunks
    from include.roboflow_batch.sensors.batch_ready import RoboflowBatchReadySensor
    from include.roboflow_batch.sensors.job import RoboflowJobSensor

    local = arguments.ingest.local_directory is not None
    roboflow = arguments.roboflow.kwargs()
    chunks: Any = task(task_id=task_ids.PLAN_CHUNKS, doc_md="One batch, job and export folder per chunk.")(
        plan_chunks_task
    )(plan=plan, listing=listing)
    ingest = RoboflowIngestOperator.partial(
        task_id=task_ids.INGEST, **arguments.ingest.kwargs(), **roboflow
    ).expand_kwargs(chunks.map(local_ingest_kwargs if local else ingest_kwargs))
    # Each chunk's wait takes the batch and the count its own ingest returned.
    ingested: Any = ingest.output
    wait_for_batch = RoboflowBatchReadySensor.partial(
        task_id=task_ids.WAIT_FOR_BATCH, **arguments.batch_wait.kwargs(), **roboflow
    ).expand_kwargs(ingested.map(batch_wait_kwargs))
    start_job = RoboflowStartJobOperator.partial(
        task_id=task_ids.START_JOB,
        # Restarts made by the wait (on an earlier try of this run) count against the same budget.
        job_wait_task_id=task_ids.WAIT_FOR_JOB,
        **arguments.start_job.kwargs(),
        **roboflow,
    ).expand_kwargs(chunks.map(start_job_kwargs))
    # The job start_job started or re-attached to (a new attempt has an id of its own), and its history.
    started: Any = start_job.output
    wait_for_job = RoboflowJobSensor.partial(
        task_id=task_ids.WAIT_FOR_JOB, **arguments.job_wait.kwargs(), **roboflow
    ).expand_kwargs(started.map(job_wait_kwargs))
    # The job the wait saw finish, with the whole history: the start task's events and its restarts.
    waited: Any = wait_for_job.output
    export = RoboflowExportOperator.partial(
        task_id=task_ids.EXPORT, **arguments.export.kwargs(), **roboflow
    ).expand_kwargs(
        chunks.zip(ingested, started, waited).map(local_export_kwargs if local else export_kwargs)
    )
    exported: Any = export.output
    # One results event per window, once the window's manifest is known to reconcile (also for a
    # window of skipped objects only: its manifest landed, with no rows).
    reconcile = task(
        task_id=task_ids.RECONCILE,
        doc_md="One manifest across every chunk of the window.",
        outlets=[results_asset(arguments.pipeline_id)],
        trigger_rule=RECONCILE_TRIGGER_RULE,
    )(reconcile_chunks)(
        plan=plan,
        listing=listing,
        chunks=chunks,
        exports=exported,
        started=started,
        **arguments.reconcile.kwargs(),
    )
    return [chunks, ingest, wait_for_batch, start_job, wait_for_job, export, reconcile]


def build_dags(loaded: LoadedPipelines, only_dag_id: str | None = None) -> dict[str, DAG]:
    """DAGs of the valid pipelines (or only ``only_dag_id``).

    A pipeline that passed the schema but whose DAG cannot be built raises a PipelineConfigError
    naming it: that is a bug to see, not a DAG to drop silently.
    """
    dags: dict[str, DAG] = {}
    for pipeline in loaded.pipelines:
        if only_dag_id is not None and pipeline.dag_id != only_dag_id:
            continue
        try:
            dags[pipeline.dag_id] = build_dag(pipeline, loaded.base_dir)
        except (TypeError, ValueError) as exc:
            raise PipelineConfigError(
                loaded.path, [f"pipelines[{pipeline.id}]: cannot build the DAG: {exc}"]
            ) from exc
    return dags


def register_pipelines(namespace: MutableMapping[str, Any], path: Path | str | None = None) -> list[str]:
    """Put one DAG per valid pipeline into ``namespace`` (a DAG file's ``globals()``).

    Invalid pipelines are left out here and reported by ``raise_pipeline_problems`` from a second
    DAG file, so one mistake shows as an import error without hiding the other pipelines. When a
    task runs, only the DAG it belongs to is built.
    """
    try:
        loaded = load_pipelines(path)
    except PipelineConfigError:
        return []  # an unreadable file is reported once, by raise_pipeline_problems
    dags = build_dags(loaded, only_dag_id=get_parsing_context().dag_id)
    namespace.update(dags)
    return list(dags)


def raise_pipeline_problems(path: Path | str | None = None) -> None:
    """Raise one ``PipelineConfigError`` listing every invalid pipeline of astro.yaml (if any).

    Only the schema is checked here (no DAG is built), so this second file costs little to parse.
    """
    if get_parsing_context().dag_id is not None:
        return  # a task of some pipeline is starting: nothing to report there
    load_pipelines(path).raise_for_problems()
