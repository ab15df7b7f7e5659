"""Build one Airflow DAG per astro.yaml pipeline: wire its tasks with the arguments ``step_arguments``
derives from the pipeline.

Each DAG is ``plan -> preflight -> list_new_objects | list_local_files -> plan_chunks -> spend_gate ->
ingest -> wait_for_batch -> start_job -> wait_for_job -> account_spend -> export -> reconcile``:
``plan`` fixes the window and derives the batch id, job id and locations from it (so re-runs and
backfills are idempotent); ``preflight`` checks what would only fail after money is spent; the
listing skips the run when nothing new arrived and splits the window into chunks of at most
``max_batch_objects``; ``plan_chunks`` names a batch, a job and an export folder for each;
``spend_gate`` estimates the window, checks it against the budgets and reserves each job's
machine-time ceiling (or asks a person, or stops, or ends a dry run); ``ingest`` ... ``wait_for_job``
and ``export`` are mapped over the chunks (one task instance per chunk and step); ``account_spend``
replaces the reservations with what the jobs measured; and ``reconcile`` checks that the chunks
together account for every object listed, then writes the window's results table. A window whose
objects were all skipped has zero chunks: the mapped steps are skipped (no batch, no job) and
``reconcile`` writes its manifest of skipped objects.

Each mapped step expands over the chunk plan or over what the previous step returned for the same
chunk (``pipeline/chunks.py``), so values reach it as values.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, get_parsing_context

from include.roboflow_batch import task_ids
from include.roboflow_batch.pipeline.config_errors import PipelineConfigError
from include.roboflow_batch.pipeline.loader import LoadedPipelines, load_pipelines
from include.roboflow_batch.pipeline.schema import PipelineConfig
from include.roboflow_batch.pipeline.spend_config import BudgetGroupConfig
from include.roboflow_batch.pipeline.step_arguments import (
    GCSListingArguments,
    PipelineArguments,
    S3ListingArguments,
    pipeline_arguments,
)
from include.roboflow_batch.pipeline.step_lineage import (
    account_lineage,
    chunks_lineage,
    local_listing_lineage,
    plan_lineage,
    preflight_lineage,
    reconcile_lineage,
    step_task,
)


def build_dag(
    pipeline: PipelineConfig, base_dir: Path, budget_groups: Mapping[str, BudgetGroupConfig] | None = None
) -> DAG:
    """The DAG of one validated pipeline (not registered anywhere: the caller decides)."""
    from include.roboflow_batch.pipeline.plan_task import plan_run
    from include.roboflow_batch.pipeline.preflight_task import run_preflight

    arguments = pipeline_arguments(pipeline, base_dir, budget_groups)
    dag = DAG(schedule=arguments.dag.schedule, **arguments.dag.kwargs(), auto_register=False)
    with dag:
        # XComArgs: resolved at run time into the values the tasks are typed for.
        plan: Any = step_task(
            task_id=task_ids.PLAN, doc_md="Window, ids and locations of this run.", lineage_of=plan_lineage
        )(plan_run)(spec=arguments.plan)
        preflight: Any = step_task(
            task_id=task_ids.PREFLIGHT,
            doc_md="Checks what would only fail after spending; see docs/costs.md.",
            lineage_of=preflight_lineage,
        )(run_preflight)(spec=arguments.preflight, plan=plan)
        listing, listing_output = _listing_task(arguments, plan)
        steps = [plan, preflight, listing, *_chunk_steps(arguments, plan, listing_output, preflight)]
        for upstream, downstream in itertools.pairwise(steps):
            upstream >> downstream
    return dag


def _listing_task(arguments: PipelineArguments, plan: Any) -> tuple[Any, Any]:
    """The listing task and its output: references files of a bucket, or file lists of a directory."""
    from include.roboflow_batch.operators.references import GCSReferencesOperator, S3ReferencesOperator
    from include.roboflow_batch.pipeline.local_listing import list_local_files

    listing = arguments.listing
    if not isinstance(listing, S3ListingArguments | GCSListingArguments):
        local: Any = step_task(
            task_id=task_ids.LIST_LOCAL_FILES,
            doc_md="The window's files, one list per batch.",
            lineage_of=local_listing_lineage(listing["directory"]),
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
        # A dry run counts the window: nothing is signed or written.
        count_only=plan["dry_run"],
        # A repair run takes the window's unprocessed objects instead of listing the window.
        repair_of=plan["repair_of"],
        **listing.kwargs(),
    )
    return references, references.output


def _chunk_steps(arguments: PipelineArguments, plan: Any, listing: Any, preflight: Any) -> list[Any]:
    """``[plan_chunks, spend_gate, ingest, wait_for_batch, start_job, wait_for_job, account_spend,
    export, reconcile]``."""
    from include.roboflow_batch.export.results_asset import results_asset
    from include.roboflow_batch.operators.export import RoboflowExportOperator
    from include.roboflow_batch.operators.ingest import RoboflowIngestOperator
    from include.roboflow_batch.operators.spend_gate import SpendGateOperator
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
    from include.roboflow_batch.pipeline.spend_tasks import ACCOUNT_TRIGGER_RULE, account_spend
    from include.roboflow_batch.sensors.batch_ready import RoboflowBatchReadySensor
    from include.roboflow_batch.sensors.job import RoboflowJobSensor

    local = arguments.ingest.local_directory is not None
    roboflow = arguments.roboflow.kwargs()
    chunks: Any = step_task(
        task_id=task_ids.PLAN_CHUNKS,
        doc_md="One batch, job and export folder per chunk.",
        lineage_of=chunks_lineage,
    )(plan_chunks_task)(plan=plan, listing=listing)
    gate = SpendGateOperator(
        task_id=task_ids.SPEND_GATE,
        doc_md="Estimate, budgets and each job's machine-time ceiling; a person decides when over budget.",
        policy=arguments.spend_policy,
        chunks=chunks,
        run_plan=plan,
        listing=listing,
        preflight=preflight,
    )
    # What the gate allowed each chunk: its ceiling (the decision itself is its XCom spend_plan).
    allowed: Any = gate.output
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
    ).expand_kwargs(chunks.zip(ingested, allowed).map(start_job_kwargs))
    # The job start_job started or re-attached to (a new attempt has an id of its own), and its history.
    started: Any = start_job.output
    wait_for_job = RoboflowJobSensor.partial(
        task_id=task_ids.WAIT_FOR_JOB, **arguments.job_wait.kwargs(), **roboflow
    ).expand_kwargs(started.map(job_wait_kwargs))
    # The job the wait saw finish, with the whole history: the start task's events and its restarts.
    waited: Any = wait_for_job.output
    # Whatever happened to the jobs: a failed job spent too, one never created releases its reservation.
    accounted: Any = step_task(
        task_id=task_ids.ACCOUNT_SPEND,
        lineage_of=account_lineage,
        doc_md="Each job's measured machine time replaces its reservation in the spend ledger.",
        trigger_rule=ACCOUNT_TRIGGER_RULE,
    )(account_spend)(
        policy=arguments.spend_policy, chunks=chunks, roboflow_conn_id=arguments.roboflow.roboflow_conn_id
    )
    export = RoboflowExportOperator.partial(
        task_id=task_ids.EXPORT,
        # A job its ceiling stopped: what finished is exported, the run fails at reconcile.
        export_when_stopped_by_ceiling=True,
        spend_from=task_ids.ACCOUNT_SPEND,
        **arguments.export.kwargs(),
        **roboflow,
    ).expand_kwargs(
        chunks.zip(ingested, started, waited).map(local_export_kwargs if local else export_kwargs)
    )
    exported: Any = export.output
    # One results event per window, once the window's manifest is known to reconcile (also for a
    # window of skipped objects only: its manifest landed, with no rows).
    reconcile = step_task(
        task_id=task_ids.RECONCILE,
        doc_md="One manifest across every chunk of the window, and the window's results table.",
        outlets=[results_asset(arguments.pipeline_id)],
        trigger_rule=RECONCILE_TRIGGER_RULE,
        lineage_of=reconcile_lineage(arguments.reconcile.table["root"]),
    )(reconcile_chunks)(
        plan=plan,
        listing=listing,
        chunks=chunks,
        exports=exported,
        started=started,
        spend=accounted,
        **arguments.reconcile.kwargs(),
    )
    wait_for_job >> export  # the export follows the accounting, and only a wait that succeeded
    return [chunks, gate, ingest, wait_for_batch, start_job, wait_for_job, accounted, export, reconcile]


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
            dags[pipeline.dag_id] = build_dag(pipeline, loaded.base_dir, loaded.budget_groups)
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
