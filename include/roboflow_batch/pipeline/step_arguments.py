"""From one validated astro.yaml pipeline to the typed arguments of its DAG and of each of its tasks.

This is the one module that reads a ``PipelineConfig``; the factory (``pipeline/factory.py``) only
wires the tasks these arguments describe, and the values a run finds (its window, ids and chunks)
travel between the tasks as XCom values. A setting that a task names differently from astro.yaml
meets its task's name here, and only here (astro.yaml -> task: argument):

- ``max_batch_objects`` (default by ``source.media``) -> list_new_objects, list_local_files:
  ``max_objects_per_file`` (one chunk: one staging batch and one job).
- ``export.destination`` (a template) -> plan: ``destination`` rendered for the window ->
  plan_chunks: each chunk's ``destination`` -> export: ``destination``.
- ``export.conn_id``, else the source's connection when on the source's storage -> export,
  reconcile: ``destination_conn_id``.
- ``source.references_uri`` (a template) -> plan: ``references_uri`` rendered for the window ->
  list_new_objects: ``destination``.
- ``source.references_conn_id``, else the source's connection when on its storage ->
  list_new_objects: ``destination_conn_id``; ingest, export: ``references_conn_id``; reconcile:
  ``skipped_conn_id``.
- ``source.conn_id`` -> list_new_objects: ``aws_conn_id`` / ``gcp_conn_id``.
- ``source.url_expiry`` -> list_new_objects: ``expiry``.
- ``source.media`` -> listing, ingest, start_job: ``media_type``.
- ``source.directory`` (relative to astro.yaml) -> list_local_files: ``directory``; ingest:
  ``local_directory``.
- ``workflow.id`` / ``.parameters`` / ``.image_input_name`` -> start_job: ``workflow_id`` /
  ``workflow_parameters`` / ``image_input_name``.
- ``job.processing_timeout`` -> spend_gate: the most any ceiling may be (see ``cost`` below).
- ``job.on_changed_definition`` (or the run param of that name) -> start_job: ``on_changed_definition``.
- ``export.conn_id`` (as above) -> plan, and the listing: ``destination_conn_id`` / ``repair_conn_id``
  (a repair run reads the window's manifest).
- ``job.wait_timeout`` / ``job.poke_interval`` -> wait_for_job: ``timeout`` / ``poke_interval``
  (seconds); ``readiness.timeout`` / ``readiness.poke_interval`` -> wait_for_batch: the same.
- ``webhook_url`` -> ingest, start_job: ``notifications_url``; with it, ``webhook_fallback_interval``
  -> both waits: ``poke_interval``, and ``notification_check_interval``.
- ``export.table_root`` (default ``tables/`` beside the export folders; relative to astro.yaml) ->
  reconcile: ``table.root``; its connection (the export's on the same storage, else the source's on
  the source's storage) -> ``table.conn_id``; the source (bucket, prefix and connection, or the
  directory) -> ``table.source``, where the Roboflow view reads the window's images.
- ``state_location`` / ``state_conn_id`` (default by source kind, ``pipeline/state_location.py``),
  unless ``reprocess_unchanged`` -> list_new_objects, list_local_files, reconcile:
  ``processed_content`` (the record's folder, ``<state>/<id>/processed-content/``) and
  ``processed_content_conn_id``.
- ``cost`` (with ``budget_groups``, ``timezone``, ``job.machine_type``, ``job.processing_timeout`` and
  the state location) -> spend_gate, account_spend: ``policy`` (``spend.policy.SpendPolicy`` as a
  dict, ``pipeline/spend_config.py``); the ceiling the gate reserves for each chunk -> start_job:
  ``processing_timeout_seconds`` (never above ``job.processing_timeout``), and what start_job used ->
  wait_for_job: ``restart_ceiling_seconds``.
- ``preflight`` and the source, references and export connections -> preflight: ``spec``.

Every other setting keeps its astro.yaml name. A new setting is read in ``pipeline_arguments`` and
lands as a field of its step's arguments below.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from include.roboflow_batch import task_ids
from include.roboflow_batch.api.jobs import JOB_OPTION_FIELDS, RestartOverrides
from include.roboflow_batch.durations import format_duration, is_duration, parse_duration
from include.roboflow_batch.pipeline.local_listing import LocalListingSpec
from include.roboflow_batch.pipeline.plan_task import PlanSpec
from include.roboflow_batch.pipeline.preflight_task import PreflightSpec
from include.roboflow_batch.pipeline.results_table_task import TableSpec
from include.roboflow_batch.pipeline.run_params import (
    ON_CHANGED_DEFINITION,
    RUN_PARAMS_DOC,
    param_or,
    run_params,
)
from include.roboflow_batch.pipeline.run_window import as_uri, resolve_path
from include.roboflow_batch.pipeline.schema import (
    CRON_PRESETS,
    DEFAULT_MAX_BATCH_OBJECTS,
    GCSSource,
    JobOptions,
    LocalSource,
    PipelineConfig,
    S3Source,
    in_pipeline_zone,
)
from include.roboflow_batch.pipeline.spend_config import BudgetGroupConfig, spend_policy
from include.roboflow_batch.pipeline.state_location import state_location

# astro.yaml job options passed unchanged to RoboflowStartJobOperator: those both models share.
_PASSTHROUGH_JOB_OPTIONS = tuple(name for name in JobOptions.model_fields if name in JOB_OPTION_FIELDS)
# How often a deferred wait asks the webhook receiver whether a notification arrived.
NOTIFICATION_CHECK_SECONDS = 1.0
# A field passed to its task only when set (the task's own default applies otherwise).
_WHEN_SET = {"when_set": True}


@dataclass(frozen=True)
class StepArguments:
    """The keyword arguments of one task; field names are the task's own parameter names."""

    def kwargs(self) -> dict[str, Any]:
        return {
            item.name: value
            for item in fields(self)
            if (value := getattr(self, item.name)) is not None or not item.metadata.get("when_set")
        }


@dataclass(frozen=True)
class RoboflowTaskArguments(StepArguments):
    """What every task that calls Roboflow shares."""

    roboflow_conn_id: str
    pool: str


@dataclass(frozen=True)
class DagArguments(StepArguments):
    """``airflow.sdk.DAG`` of the pipeline."""

    dag_id: str
    description: str
    schedule: Any
    start_date: datetime | None
    end_date: datetime | None
    catchup: bool
    max_active_runs: int
    tags: list[str]
    doc_md: str
    default_args: dict[str, Any]
    params: dict[str, Any]

    def kwargs(self) -> dict[str, Any]:
        """Every argument but ``schedule``, which the factory passes by name."""
        return {name: value for name, value in super().kwargs().items() if name != "schedule"}


@dataclass(frozen=True)
class ReferencesListingArguments(StepArguments):
    """``S3ReferencesOperator`` / ``GCSReferencesOperator`` (the window comes from ``plan``)."""

    bucket: str
    prefix: str
    destination_conn_id: str | None
    media_type: str
    expiry: timedelta
    max_objects_per_file: int
    # A window of skipped objects only goes on to reconcile, which writes its manifest.
    skip_when_all_skipped: bool = False
    processed_content: str | None = None
    processed_content_conn_id: str | None = None
    # A repair run reads the window's manifest (the export's connection).
    repair_conn_id: str | None = None


@dataclass(frozen=True)
class S3ListingArguments(ReferencesListingArguments):
    aws_conn_id: str = "aws_default"
    disable_flexible_checksums: bool = False


@dataclass(frozen=True)
class GCSListingArguments(ReferencesListingArguments):
    gcp_conn_id: str = "google_cloud_default"
    signing_conn_id: str | None = None
    service_account_email: str | None = None


@dataclass(frozen=True)
class IngestArguments(StepArguments):
    """``RoboflowIngestOperator``: from references files (a bucket) or file lists of a directory."""

    media_type: str
    notifications_url: str | None
    references_conn_id: str | None = field(default=None, metadata=_WHEN_SET)
    local_directory: str | None = field(default=None, metadata=_WHEN_SET)


@dataclass(frozen=True)
class WaitArguments(StepArguments):
    """How a wait asks Roboflow: its own interval, or with webhooks (deferred waits only) the slow
    fallback interval while it checks the receiver for a notification every second. Without a
    triggerer the wait runs in reschedule mode, set here so that the mapped task shows it too."""

    deferrable: bool
    timeout: float
    poke_interval: float
    notification_check_interval: float | None = field(default=None, metadata=_WHEN_SET)
    mode: str | None = field(default=None, metadata=_WHEN_SET)


@dataclass(frozen=True)
class BatchWaitArguments(WaitArguments):
    """``RoboflowBatchReadySensor``: failure tolerance and how to wait."""

    max_failure_rate: float = 0.0


@dataclass(frozen=True)
class JobWaitArguments(WaitArguments):
    """``RoboflowJobSensor``: the restart budget it shares with start_job, and what a restart carries."""

    max_restarts: int = 2
    restart_options: dict[str, Any] = field(default_factory=dict)
    # A job its ceiling stopped goes on to the export, and the run fails at reconcile (docs/costs.md).
    hand_over_ceiling_stops: bool = True


@dataclass(frozen=True)
class StartJobArguments(StepArguments):
    """``RoboflowStartJobOperator``; ``job_options`` are its job-body parameters astro.yaml sets."""

    workflow_id: str
    media_type: str
    on_changed_definition: str
    max_restarts: int
    job_options: dict[str, Any]

    def kwargs(self) -> dict[str, Any]:
        own = super().kwargs()
        return {**{name: value for name, value in own.items() if name != "job_options"}, **self.job_options}


@dataclass(frozen=True)
class ExportArguments(StepArguments):
    """``RoboflowExportOperator``: where and what to export, and how fast."""

    destination_conn_id: str | None
    references_conn_id: str | None
    stage: str
    max_concurrency: int
    transfer_processes: int | None


@dataclass(frozen=True)
class ReconcileArguments(StepArguments):
    """``reconcile_chunks``: the connections that read the manifests and the skipped and content lists,
    the window's results table, and the processed-content record the window's content joins."""

    destination_conn_id: str | None
    skipped_conn_id: str | None
    table: TableSpec
    processed_content: str | None = None
    processed_content_conn_id: str | None = None


@dataclass(frozen=True)
class PipelineArguments:
    """Everything the factory needs to build one pipeline's DAG."""

    pipeline_id: str
    dag: DagArguments
    roboflow: RoboflowTaskArguments
    plan: PlanSpec
    preflight: PreflightSpec
    listing: S3ListingArguments | GCSListingArguments | LocalListingSpec
    # The pipeline's SpendPolicy as a dict: the spend gate's and account_spend's ``policy``.
    spend_policy: dict[str, Any]
    ingest: IngestArguments
    batch_wait: BatchWaitArguments
    start_job: StartJobArguments
    job_wait: JobWaitArguments
    export: ExportArguments
    reconcile: ReconcileArguments


def max_batch_objects(pipeline: PipelineConfig) -> int:
    """``max_batch_objects``, or the default for the source's media (docs/astro-yaml.md)."""
    return pipeline.max_batch_objects or DEFAULT_MAX_BATCH_OBJECTS[pipeline.source.media]


#: The processed-content record's folder inside the pipeline's state location.
PROCESSED_CONTENT_FOLDER = "processed-content"


def processed_content_record(pipeline: PipelineConfig, base_dir: Path) -> tuple[str | None, str | None]:
    """Folder URI and connection of the pipeline's processed-content record (None with
    ``reprocess_unchanged``: every object of a window is sent, whatever was processed before)."""
    if pipeline.reprocess_unchanged:
        return None, None
    state = state_location(pipeline, base_dir)
    return state.folder(PROCESSED_CONTENT_FOLDER), state.conn_id


def pipeline_arguments(
    pipeline: PipelineConfig, base_dir: Path, budget_groups: Mapping[str, BudgetGroupConfig] | None = None
) -> PipelineArguments:
    """The arguments of ``pipeline``'s DAG and tasks; relative paths are taken from ``base_dir``;
    ``budget_groups`` are astro.yaml's (the pipeline's ``cost.group`` names one of them)."""
    source, job = pipeline.source, pipeline.job
    destination = pipeline.export.destination
    destination_conn_id = pipeline.export.conn_id or pipeline.source_conn_for(destination)
    per_batch = max_batch_objects(pipeline)
    record, record_conn_id = processed_content_record(pipeline, base_dir)
    listing: S3ListingArguments | GCSListingArguments | LocalListingSpec
    if isinstance(source, LocalSource):
        references_uri = references_conn_id = None
        directory = str(resolve_path(source.directory, base_dir))
        listing = LocalListingSpec(
            directory=directory,
            media_type=source.media,
            select=source.select,
            state_directory=str(resolve_path(source.state_directory, base_dir)),
            max_objects_per_file=per_batch,
            processed_content=record,
            processed_content_conn_id=record_conn_id,
            repair_conn_id=destination_conn_id,
        )
        ingest = IngestArguments(source.media, pipeline.webhook_url, local_directory=directory)
    else:
        references_uri = source.references_uri
        references_conn_id = pipeline.references_connection
        listing = _references_listing(
            source, references_conn_id, per_batch, (record, record_conn_id), destination_conn_id
        )
        ingest = IngestArguments(source.media, pipeline.webhook_url, references_conn_id=references_conn_id)
    # The job's ceiling comes from the spend gate (which keeps it within job.processing_timeout).
    job_options = _job_options(pipeline)
    start_options = {
        name: value for name, value in job_options.items() if name != "processing_timeout_seconds"
    }
    policy = spend_policy(pipeline, dict(budget_groups or {}), base_dir)
    return PipelineArguments(
        pipeline_id=pipeline.id,
        dag=_dag_arguments(pipeline, per_batch),
        roboflow=RoboflowTaskArguments(roboflow_conn_id=pipeline.roboflow_conn_id, pool=pipeline.pool),
        plan=PlanSpec(
            pipeline_id=pipeline.id,
            dag_id=pipeline.dag_id,
            base_dir=str(base_dir),
            references_uri=references_uri,
            destination=destination,
            destination_conn_id=destination_conn_id,
        ),
        preflight=_preflight(pipeline, base_dir, listing, references_conn_id, destination_conn_id, policy),
        listing=listing,
        spend_policy=policy,
        ingest=ingest,
        batch_wait=BatchWaitArguments(
            **_waiting(pipeline, task_ids.WAIT_FOR_BATCH, pipeline.readiness.poke_interval),
            timeout=pipeline.readiness.timeout.total_seconds(),
            max_failure_rate=pipeline.readiness.max_failure_rate,
        ),
        start_job=StartJobArguments(
            workflow_id=pipeline.workflow.id,
            media_type=source.media,
            # A manual run's param overrides astro.yaml.
            on_changed_definition=param_or(ON_CHANGED_DEFINITION, job.on_changed_definition),
            max_restarts=job.max_restarts,
            job_options=start_options,
        ),
        job_wait=JobWaitArguments(
            **_waiting(pipeline, task_ids.WAIT_FOR_JOB, job.poke_interval),
            timeout=job.wait_timeout.total_seconds(),
            # A retried or cleared wait restarts a failed job itself, with what a restart can carry.
            max_restarts=job.max_restarts,
            restart_options={
                name: job_options[name] for name in RestartOverrides.model_fields if name in job_options
            },
        ),
        export=ExportArguments(
            destination_conn_id=destination_conn_id,
            references_conn_id=references_conn_id,
            stage=pipeline.export.stage,
            max_concurrency=pipeline.export.max_concurrency,
            transfer_processes=pipeline.export.transfer_processes,
        ),
        reconcile=ReconcileArguments(
            destination_conn_id=destination_conn_id,
            skipped_conn_id=references_conn_id,
            table=_results_table(pipeline, base_dir, destination_conn_id),
            processed_content=record,
            processed_content_conn_id=record_conn_id,
        ),
    )


def _results_table(pipeline: PipelineConfig, base_dir: Path, destination_conn_id: str | None) -> TableSpec:
    root = as_uri(pipeline.export.results_table_root, base_dir)
    same_storage = root.split("://", 1)[0] == as_uri(pipeline.export.destination, base_dir).split("://", 1)[0]
    source = pipeline.source
    if isinstance(source, LocalSource):
        location: dict[str, Any] = {
            "kind": "local",
            "directory": str(resolve_path(source.directory, base_dir)),
        }
    else:
        kind = "s3" if isinstance(source, S3Source) else "gcs"
        location = {"kind": kind, "bucket": source.bucket, "prefix": source.prefix, "conn_id": source.conn_id}
    return TableSpec(
        pipeline_id=pipeline.id,
        root=root if root.endswith("/") else root + "/",
        conn_id=destination_conn_id if same_storage else pipeline.source_conn_for(root),
        names_are_keys=isinstance(source, LocalSource),
        source=location,
    )


def _references_listing(
    source: S3Source | GCSSource,
    destination_conn_id: str | None,
    per_batch: int,
    record: tuple[str | None, str | None],
    repair_conn_id: str | None,
) -> S3ListingArguments | GCSListingArguments:
    common: dict[str, Any] = {
        "bucket": source.bucket,
        "prefix": source.prefix,
        "destination_conn_id": destination_conn_id,
        "media_type": source.media,
        "expiry": source.url_expiry,
        "max_objects_per_file": per_batch,
        "processed_content": record[0],
        "processed_content_conn_id": record[1],
        "repair_conn_id": repair_conn_id,
    }
    if isinstance(source, S3Source):
        return S3ListingArguments(
            **common, aws_conn_id=source.conn_id, disable_flexible_checksums=source.disable_flexible_checksums
        )
    return GCSListingArguments(
        **common,
        gcp_conn_id=source.conn_id,
        signing_conn_id=source.signing_conn_id,
        service_account_email=source.service_account_email,
    )


def _preflight(
    pipeline: PipelineConfig,
    base_dir: Path,
    listing: S3ListingArguments | GCSListingArguments | LocalListingSpec,
    references_conn_id: str | None,
    destination_conn_id: str | None,
    policy: dict[str, Any],
) -> PreflightSpec:
    """The pre-flight checks of the pipeline: its source as its listing reaches it, its locations."""
    source = pipeline.source
    probe: dict[str, Any] = {}
    if isinstance(listing, S3ListingArguments | GCSListingArguments):
        probe = {
            "kind": source.kind,
            **{name: getattr(listing, name) for name in _PROBE_FIELDS if hasattr(listing, name)},
        }
    local = isinstance(source, LocalSource)
    return PreflightSpec(
        pipeline_id=pipeline.id,
        enabled=pipeline.preflight.enabled,
        sample_urls=pipeline.preflight.sample_urls,
        private_endpoints=pipeline.preflight.private_endpoints,
        media_type=source.media,
        source=probe,
        local_directory=str(resolve_path(source.directory, base_dir))
        if isinstance(source, LocalSource)
        else None,
        state_directory=(
            str(resolve_path(source.state_directory, base_dir)) if isinstance(source, LocalSource) else None
        ),
        references_conn_id=None if local else references_conn_id,
        destination_conn_id=destination_conn_id,
        roboflow_conn_id=pipeline.roboflow_conn_id,
        webhook_url=pipeline.webhook_url,
        spend_policy=policy,
    )


# What the pre-flight probe (the pipeline's references operator, unattached to a DAG) needs of the listing.
_PROBE_FIELDS = (
    "bucket",
    "prefix",
    "aws_conn_id",
    "disable_flexible_checksums",
    "gcp_conn_id",
    "signing_conn_id",
    "service_account_email",
)


def _waiting(pipeline: PipelineConfig, task_id: str, poke_interval: timedelta) -> dict[str, Any]:
    from include.roboflow_batch.sensors.waiting import waiting_arguments

    if pipeline.webhook_url and pipeline.deferrable:
        return {
            "deferrable": True,
            "poke_interval": pipeline.webhook_fallback_interval.total_seconds(),
            "notification_check_interval": NOTIFICATION_CHECK_SECONDS,
        }
    seconds, mode = waiting_arguments(task_id, pipeline.deferrable, poke_interval.total_seconds(), {})
    return {"deferrable": pipeline.deferrable, "poke_interval": seconds, "mode": mode.get("mode")}


def _job_options(pipeline: PipelineConfig) -> dict[str, Any]:
    job = pipeline.job
    options: dict[str, Any] = {
        option: getattr(job, option)
        for option in _PASSTHROUGH_JOB_OPTIONS
        if getattr(job, option) is not None
    }
    if job.processing_timeout is not None:
        options["processing_timeout_seconds"] = int(job.processing_timeout.total_seconds())
    if pipeline.workflow.parameters:
        options["workflow_parameters"] = dict(pipeline.workflow.parameters)
    if pipeline.workflow.image_input_name:
        options["image_input_name"] = pipeline.workflow.image_input_name
    if pipeline.webhook_url:
        options["notifications_url"] = pipeline.webhook_url
    return options


# The DAG ------------------------------------------------------------------------------------------


def _dag_arguments(pipeline: PipelineConfig, per_batch: int) -> DagArguments:
    source = pipeline.source
    return DagArguments(
        dag_id=pipeline.dag_id,
        description=pipeline.description
        or f"Roboflow Workflow {pipeline.workflow.id} on {source.kind} {source.media}",
        schedule=_timetable(pipeline),
        start_date=in_pipeline_zone(pipeline.start_date, pipeline.timezone),
        end_date=in_pipeline_zone(pipeline.end_date, pipeline.timezone),
        catchup=pipeline.catchup,
        max_active_runs=pipeline.max_active_runs,
        tags=list(dict.fromkeys(["roboflow", source.kind, source.media, *pipeline.tags])),
        doc_md=_doc_md(pipeline, per_batch),
        default_args={
            "owner": pipeline.owner,
            "retries": pipeline.retries,
            "retry_delay": pipeline.retry_delay,
            "retry_exponential_backoff": pipeline.retry_exponential_backoff,
            "max_retry_delay": pipeline.max_retry_delay,
        },
        params=run_params(),
    )


def _timetable(pipeline: PipelineConfig) -> object | None:
    """Data-interval timetables: a plain cron string would give zero-width intervals in Airflow 3."""
    from airflow.sdk import CronDataIntervalTimetable, DeltaDataIntervalTimetable

    schedule = pipeline.schedule
    if schedule is None:
        return None
    if is_duration(schedule):
        return DeltaDataIntervalTimetable(parse_duration(schedule))
    return CronDataIntervalTimetable(CRON_PRESETS.get(schedule, schedule), timezone=pipeline.timezone)


def _source_line(pipeline: PipelineConfig) -> str:
    source = pipeline.source
    if isinstance(source, LocalSource):
        return f"local directory `{source.directory}`"
    scheme = "s3" if isinstance(source, S3Source) else "gs"
    return f"`{scheme}://{source.bucket}/{source.prefix}` (connection `{source.conn_id}`)"


def _doc_md(pipeline: PipelineConfig, per_batch: int) -> str:
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
        "`manifest` that reconciles inputs, staged files, failures and result rows; every window's "
        f"predictions and failed objects also land in the Parquet table under "
        f"`{pipeline.export.results_table_root}`.",
        f"- **Job options**: `{job or 'service defaults'}`",
        f"- **Batches**: at most {per_batch:,} objects per staging batch and job; "
        "a larger window fans out into several, reconciled by one manifest.",
        f"- **Readiness**: at most {pipeline.readiness.max_failure_rate:.0%} of files may fail to stage; "
        f"wait up to {format_duration(pipeline.readiness.timeout)}.",
        f"- **Spend**: {_spend_line(pipeline)}",
        f"- **Roboflow connection**: `{pipeline.roboflow_conn_id}`; pool `{pipeline.pool}`.",
        f"- **Retries**: {pipeline.retries}, from {format_duration(pipeline.retry_delay)}, exponential "
        "backoff; the job id is derived from the interval, so a retry re-attaches to the same job.",
        f"- **Recovery**: a failed or aborted job is restarted (at most {pipeline.job.max_restarts} "
        "times per run) when `wait_for_job` is cleared or retried, or the run is re-run; a job whose "
        "results would differ (workflow, parameters, batch, image inputs, output format): "
        f"`{pipeline.job.on_changed_definition}`. A repair run re-processes only what failed.",
        "",
        RUN_PARAMS_DOC,
    ]
    return "\n".join(lines)


def _spend_line(pipeline: PipelineConfig) -> str:
    cost = pipeline.cost
    bounds = [
        f"{cost.max_credits_per_run:g} credits per run" if cost.max_credits_per_run else None,
        f"{cost.budget.day:g} per day" if cost.budget.day else None,
        f"{cost.budget.month:g} per month" if cost.budget.month else None,
        f"group `{cost.group}`" if cost.group else None,
    ]
    budget = ", ".join(b for b in bounds if b) or "no budget set"
    return (
        f"{budget} ({pipeline.timezone}); {cost.rates.cpu:g} / {cost.rates.gpu:g} credits per CPU / GPU "
        f"machine-hour; over budget: `{cost.on_over_budget}`. Every job gets the machine time its budget "
        "buys as its ceiling (see docs/costs.md)."
    )
