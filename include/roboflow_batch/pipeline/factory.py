"""Build one Airflow DAG per astro.yaml pipeline.

Each DAG is ``plan -> [list_new_objects -> plan_chunks] -> ingest -> wait_for_batch -> start_job ->
wait_for_job -> export [-> reconcile]``: ``plan`` fixes the window and derives the batch id, job id
and locations from it (so re-runs and backfills are idempotent); ``list_new_objects`` skips the run
when nothing new arrived (a window whose objects were all skipped goes on with zero chunks, so that
``reconcile`` writes its manifest). S3 and GCS windows are split into chunks of at most ``max_batch_objects``
and the steps from ``ingest`` to ``export`` are mapped over them (``pipeline/fan_out.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import MutableMapping
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

from airflow.sdk import DAG, Param, get_parsing_context, task

from include.roboflow_batch.api.jobs import JOB_OPTION_FIELDS
from include.roboflow_batch.durations import format_duration, is_duration, parse_duration
from include.roboflow_batch.pipeline.config_errors import PipelineConfigError
from include.roboflow_batch.pipeline.connections import references_conn_id
from include.roboflow_batch.pipeline.fan_out import fan_out_steps
from include.roboflow_batch.pipeline.loader import LoadedPipelines, load_pipelines
from include.roboflow_batch.pipeline.local_listing import LocalListingSpec, list_local_files
from include.roboflow_batch.pipeline.plan_task import PlanSpec, plan_run
from include.roboflow_batch.pipeline.run_window import resolve_path
from include.roboflow_batch.pipeline.schema import (
    CRON_PRESETS,
    GCSSource,
    JobOptions,
    LocalSource,
    PipelineConfig,
    S3Source,
)
from include.roboflow_batch.pipeline.state_location import state_location

#: The processed-content record's folder inside the pipeline's state location.
PROCESSED_CONTENT_FOLDER = "processed-content"
# astro.yaml job options passed unchanged to RoboflowStartJobOperator: those both models share.
_PASSTHROUGH_JOB_OPTIONS = tuple(name for name in JobOptions.model_fields if name in JOB_OPTION_FIELDS)
RUN_PARAMS_DOC = (
    "A manual run without window params processes what is new: from the end of the latest "
    "successfully processed window up to the trigger time. Params: `window_start` and `window_end` "
    "(ISO 8601) process exactly that window; `select_all: true` takes every object under the source, "
    "whatever its age; `on_changed_definition` (`new_job` or `fail`) overrides "
    "`job.on_changed_definition` for this run."
)


class _RoboflowTaskArgs(TypedDict):
    """Arguments every Roboflow task of a pipeline shares."""

    roboflow_conn_id: str
    pool: str


def _timetable(pipeline: PipelineConfig) -> object | None:
    """Data-interval timetables: a plain cron string would give zero-width intervals in Airflow 3."""
    from airflow.sdk import CronDataIntervalTimetable, DeltaDataIntervalTimetable

    schedule = pipeline.schedule
    if schedule is None:
        return None
    if is_duration(schedule):
        return DeltaDataIntervalTimetable(parse_duration(schedule))
    return CronDataIntervalTimetable(CRON_PRESETS.get(schedule, schedule), timezone=pipeline.timezone)


def _as_datetime(value: datetime | None, timezone: str) -> datetime | None:
    """Naive times in astro.yaml are in the pipeline's time zone."""
    import pendulum

    if value is None:
        return None
    return value if value.tzinfo else pendulum.instance(value, tz=timezone)


def _source_line(pipeline: PipelineConfig) -> str:
    source = pipeline.source
    if isinstance(source, LocalSource):
        return f"local directory `{source.directory}`"
    scheme = "s3" if isinstance(source, S3Source) else "gs"
    return f"`{scheme}://{source.bucket}/{source.prefix}` (connection `{source.conn_id}`)"


def _doc_md(pipeline: PipelineConfig) -> str:
    job = pipeline.job.model_dump(
        exclude_none=True, exclude={"wait_timeout", "poke_interval", "on_changed_definition", "max_restarts"}
    )
    schedule = pipeline.schedule or "manual runs only"
    lines = [
        f"# Roboflow pipeline `{pipeline.id}`",
        "",
        pipeline.description or "",
        "",
        f"Every run takes the new {pipeline.source.media} of its data interval from "
        f"{_source_line(pipeline)}, stages them in a Roboflow batch, runs Workflow "
        f"`{pipeline.workflow.id}` on them and exports the results.",
        "",
        f"- **Schedule**: `{schedule}` ({pipeline.timezone}), one run per data interval; "
        "a run with nothing new is skipped, not failed.",
        f"- **Results**: `{pipeline.export.destination}` (stage `{pipeline.export.stage}`), with a "
        "`manifest` that reconciles inputs, staged files, failures and result rows.",
        f"- **Job options**: `{job or 'service defaults'}`",
        f"- **Batches**: at most {pipeline.batch_object_limit:,} objects per staging batch and job; "
        "a larger window fans out into several, reconciled by one manifest."
        if not isinstance(pipeline.source, LocalSource)
        else "- **Batches**: one staging batch and job per window.",
        f"- **Readiness**: at most {pipeline.readiness.max_failure_rate:.0%} of files may fail to stage; "
        f"wait up to {format_duration(pipeline.readiness.timeout)}.",
        f"- **Roboflow connection**: `{pipeline.roboflow_conn_id}`; pool `{pipeline.pool}`.",
        f"- **Retries**: {pipeline.retries}, from {format_duration(pipeline.retry_delay)}, exponential "
        "backoff; the job id is derived from the interval, so a retry re-attaches to the same job.",
        f"- **Recovery**: a failed or aborted job is restarted (at most {pipeline.job.max_restarts} "
        "times per run) when `wait_for_job` is cleared or retried, or the run is re-run; a changed "
        f"workflow, parameters or batch: `{pipeline.job.on_changed_definition}`.",
        "",
        RUN_PARAMS_DOC,
    ]
    return "\n".join(lines)


def _plan_spec(pipeline: PipelineConfig, base_dir: Path) -> PlanSpec:
    source = pipeline.source
    return PlanSpec(
        pipeline_id=pipeline.id,
        dag_id=pipeline.dag_id,
        base_dir=str(base_dir),
        references_uri=None if isinstance(source, LocalSource) else source.references_uri,
        destination=pipeline.export.destination,
    )


def _start_job_kwargs(pipeline: PipelineConfig) -> dict[str, Any]:
    job = pipeline.job
    kwargs: dict[str, Any] = {
        option: getattr(job, option)
        for option in _PASSTHROUGH_JOB_OPTIONS
        if getattr(job, option) is not None
    }
    if job.processing_timeout is not None:
        kwargs["processing_timeout_seconds"] = int(job.processing_timeout.total_seconds())
    if pipeline.workflow.parameters:
        kwargs["workflow_parameters"] = dict(pipeline.workflow.parameters)
    if pipeline.workflow.image_input_name:
        kwargs["image_input_name"] = pipeline.workflow.image_input_name
    if pipeline.webhook_url:
        kwargs["notifications_url"] = pipeline.webhook_url
    return kwargs


def build_dag(pipeline: PipelineConfig, base_dir: Path) -> DAG:
    """The DAG of one validated pipeline (not registered anywhere: the caller decides)."""
    source = pipeline.source
    tags = list(dict.fromkeys(["roboflow", source.kind, pipeline.source.media, *pipeline.tags]))
    default_args = {
        "owner": pipeline.owner,
        "retries": pipeline.retries,
        "retry_delay": pipeline.retry_delay,
        "retry_exponential_backoff": pipeline.retry_exponential_backoff,
        "max_retry_delay": pipeline.max_retry_delay,
    }
    roboflow = _RoboflowTaskArgs(roboflow_conn_id=pipeline.roboflow_conn_id, pool=pipeline.pool)
    dag = DAG(
        dag_id=pipeline.dag_id,
        description=pipeline.description
        or f"Roboflow Workflow {pipeline.workflow.id} on {source.kind} {source.media}",
        schedule=_timetable(pipeline),
        start_date=_as_datetime(pipeline.start_date, pipeline.timezone),
        end_date=_as_datetime(pipeline.end_date, pipeline.timezone),
        catchup=pipeline.catchup,
        max_active_runs=pipeline.max_active_runs,
        tags=tags,
        doc_md=_doc_md(pipeline),
        default_args=default_args,
        params={
            "window_start": Param(None, type=["null", "string"], description="ISO 8601 start of the window"),
            "window_end": Param(None, type=["null", "string"], description="ISO 8601 end (exclusive)"),
            "select_all": Param(False, type="boolean", description="Every object, whatever its age"),
            "on_changed_definition": Param(
                None,
                type=["null", "string"],
                enum=[None, "new_job", "fail"],
                description="A failed job whose definition changed: start a new job, or fail",
            ),
        },
        auto_register=False,
    )
    with dag:
        # An XComArg: its items are resolved at run time into the operators' str parameters.
        plan: Any = task(task_id="plan", doc_md="Window, ids and locations of this run.")(plan_run)(
            spec=_plan_spec(pipeline, base_dir)
        )
        if isinstance(source, S3Source | GCSSource):
            listing: Any = _references_task(pipeline, source, plan, base_dir)
            listing_output, local_directory = listing.output, None
        else:
            local_directory = str(resolve_path(source.directory, base_dir))
            listing = listing_output = _local_listing_task(pipeline, source, plan, base_dir)
        steps = [
            plan,
            listing,
            *fan_out_steps(
                pipeline,
                source,
                plan,
                listing_output,
                roboflow=roboflow,
                job_options=_start_job_kwargs(pipeline),
                local_directory=local_directory,
                processed_content=processed_content_record(pipeline, base_dir),
            ),
        ]
        for upstream, downstream in itertools.pairwise(steps):
            upstream >> downstream
    return dag


def _local_listing_task(pipeline: PipelineConfig, source: LocalSource, plan: Any, base_dir: Path) -> Any:
    record, record_conn_id = processed_content_record(pipeline, base_dir)
    spec = LocalListingSpec(
        directory=str(resolve_path(source.directory, base_dir)),
        media_type=source.media,
        select=source.select,
        state_directory=str(resolve_path(source.state_directory, base_dir)),
        max_per_list=pipeline.batch_object_limit,
        processed_content=record,
        processed_content_conn_id=record_conn_id,
    )
    return task(task_id="list_local_files", doc_md="The window's files, one list per batch.")(
        list_local_files
    )(spec=spec, plan=plan)


def _window_kwargs(plan: Any) -> dict[str, Any]:
    """The plan task's window (params ``window_start``/``window_end``/``select_all`` included)."""
    return {
        "select": plan["select"],
        "interval_start": plan["window_start"],
        "interval_end": plan["window_end"],
    }


def processed_content_record(pipeline: PipelineConfig, base_dir: Path) -> tuple[str | None, str | None]:
    """Folder URI and connection of the pipeline's processed-content record (None with
    ``reprocess_unchanged``: every object of a window is sent, whatever was processed before)."""
    if pipeline.reprocess_unchanged:
        return None, None
    state = state_location(pipeline, base_dir)
    return state.folder(PROCESSED_CONTENT_FOLDER), state.conn_id


def _references_task(
    pipeline: PipelineConfig, source: S3Source | GCSSource, plan: Any, base_dir: Path
) -> Any:
    from include.roboflow_batch.operators.references import GCSReferencesOperator, S3ReferencesOperator

    common = {
        "task_id": "list_new_objects",
        "bucket": source.bucket,
        "prefix": source.prefix,
        "destination": plan["references_uri"],
        "destination_conn_id": references_conn_id(pipeline),
        "media_type": source.media,
        "expiry": source.url_expiry,
        "max_objects_per_file": pipeline.batch_object_limit,
        # A window of skipped objects only goes on to reconcile, which writes its manifest.
        "skip_when_all_skipped": False,
        **_window_kwargs(plan),
    }
    common["processed_content"], common["processed_content_conn_id"] = processed_content_record(
        pipeline, base_dir
    )
    if isinstance(source, S3Source):
        return S3ReferencesOperator(
            aws_conn_id=source.conn_id, disable_flexible_checksums=source.disable_flexible_checksums, **common
        )
    return GCSReferencesOperator(
        gcp_conn_id=source.conn_id,
        signing_conn_id=source.signing_conn_id,
        service_account_email=source.service_account_email,
        **common,
    )


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
