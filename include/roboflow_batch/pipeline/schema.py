"""The astro.yaml schema: one ``PipelineConfig`` per data source, ``PipelineDefaults`` shared by all.

Every model forbids unknown keys, so a typo is an error (with a suggestion) rather than a silently
ignored setting. Durations accept ``90s``/``15m``/``1h``/``1d``/``1w`` or seconds.
"""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from include.roboflow_batch.api.jobs import JobTuning
from include.roboflow_batch.durations import format_duration, is_duration, parse_duration
from include.roboflow_batch.media import MediaType
from include.roboflow_batch.pipeline.spend_config import CostConfig, PreflightConfig
from include.roboflow_batch.references.expiry import MAX_EXPIRY, MIN_EXPIRY
from include.roboflow_batch.results_table.location import check_table_root, default_table_root, is_inside

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]


def _date_to_datetime(value: object) -> object:
    """YAML reads ``2026-01-01`` as a date: make it midnight (the pipeline's time zone applies)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    return value


DateTime = Annotated[datetime, BeforeValidator(_date_to_datetime)]

PIPELINE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
GCS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")


def _bucket_name(pattern: re.Pattern[str], rule: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"not a valid {rule}: {value!r}")
        return value

    return AfterValidator(check)


S3BucketName = Annotated[str, _bucket_name(S3_BUCKET, "S3 bucket name (3-63 of a-z 0-9 . -)")]
GCSBucketName = Annotated[str, _bucket_name(GCS_BUCKET, "GCS bucket name (3-222 of a-z 0-9 . _ -)")]
CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
}
TEMPLATE_FIELDS = ("pipeline", "dag_id", "interval_start", "interval_end")
_SAMPLE_TEMPLATE_VALUES: dict[str, Any] = {
    "pipeline": "p",
    "dag_id": "roboflow_p",
    "interval_start": datetime(2026, 1, 1, tzinfo=UTC),
    "interval_end": datetime(2026, 1, 2, tzinfo=UTC),
}
URI_SCHEMES = ("s3://", "gs://", "file://")
# Five reference requests of 20,000 images (the official client's chunk) per batch; the suggested
# ceiling of 1,000 videos per batch (docs/roboflow-api.md §7).
DEFAULT_MAX_BATCH_OBJECTS: dict[str, int] = {"images": 100_000, "videos": 1_000}


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_uri_template(value: str) -> str:
    """Reject placeholders other than TEMPLATE_FIELDS and formats that do not render."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc}): {value!r}") from None
    unknown = sorted(names - set(TEMPLATE_FIELDS))
    if unknown:
        allowed = ", ".join("{" + name + "}" for name in TEMPLATE_FIELDS)
        raise ValueError(f"unknown placeholder {{{unknown[0]}}} in {value!r}; allowed: {allowed}")
    try:
        value.format(**_SAMPLE_TEMPLATE_VALUES)
    except (ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"template {value!r} does not render: {exc}") from None
    if "://" in value and not value.startswith(URI_SCHEMES):
        raise ValueError(f"unsupported URI scheme in {value!r}; use s3://, gs://, file:// or a path")
    return value


UriTemplate = Annotated[str, Field(min_length=1)]


class _ObjectStoreSource(StrictModel):
    bucket: str
    prefix: str = ""
    media: MediaType = "images"
    url_expiry: Duration = Field(default=timedelta(hours=24))
    references_uri: UriTemplate = Field(
        description="Where the private JSONL of signed URLs is written (template, like export.destination)."
    )
    references_conn_id: str | None = None

    @field_validator("url_expiry")
    @classmethod
    def _expiry_within_cap(cls, value: timedelta) -> timedelta:
        # The same bounds the references operators enforce at run time, reported at parse time.
        if value > MAX_EXPIRY:
            raise ValueError(f"signed URLs live at most {MAX_EXPIRY.days} days, got {format_duration(value)}")
        if value < MIN_EXPIRY:
            raise ValueError(
                f"signed URLs must live at least {format_duration(MIN_EXPIRY)} to outlast the ingest "
                f"queue, got {format_duration(value)}"
            )
        return value

    @field_validator("prefix")
    @classmethod
    def _relative_prefix(cls, value: str) -> str:
        if value.startswith("/"):
            raise ValueError(f"a prefix is relative to the bucket; drop the leading '/': {value!r}")
        return value

    @field_validator("references_uri")
    @classmethod
    def _references_template(cls, value: str) -> str:
        return check_uri_template(value)


class S3Source(_ObjectStoreSource):
    kind: Literal["s3"]
    bucket: S3BucketName
    conn_id: str = "aws_default"
    # S3-compatible stores (R2) reject the checksum parameters newer SDKs add to signed URLs.
    disable_flexible_checksums: bool = False


class GCSSource(_ObjectStoreSource):
    kind: Literal["gcs"]
    bucket: GCSBucketName
    conn_id: str = "google_cloud_default"
    signing_conn_id: str | None = Field(
        default=None, description="Connection whose credentials sign the URLs (default: conn_id)."
    )
    service_account_email: str | None = Field(
        default=None, description="Sign through IAM signBlob as this service account."
    )


class LocalSource(StrictModel):
    kind: Literal["local"]
    directory: str = Field(min_length=1, description="Absolute, or relative to the astro.yaml file.")
    media: MediaType = "images"
    select: Literal["interval", "all"] = Field(
        default="interval", description="Files modified in the run's data interval, or every file."
    )
    state_directory: str = Field(
        default=".roboflow-state",
        min_length=1,
        description="Where each run's file lists are kept (absolute, or relative to the astro.yaml file).",
    )


Source = Annotated[S3Source | GCSSource | LocalSource, Field(discriminator="kind")]


class WorkflowConfig(StrictModel):
    id: str = Field(min_length=1)
    parameters: dict[str, Any] = Field(default_factory=dict)
    image_input_name: str | None = None


class JobOptions(JobTuning):
    """Options of the Workflow job (docs/roboflow-api.md §3.2, shared with ``WorkflowJobSpec``), plus the
    job's machine-time budget and how long to wait for it."""

    processing_timeout: Duration | None = None
    persist_images_outputs: bool | None = None
    wait_timeout: Duration = Field(default=timedelta(hours=12))
    poke_interval: Duration = Field(default=timedelta(seconds=10))
    # Recovery of an interval whose job failed or was aborted (include.roboflow_batch.jobs.recovery).
    on_changed_definition: Literal["new_job", "fail"] = "new_job"
    max_restarts: int = Field(default=2, ge=0, le=10)


class ReadinessConfig(StrictModel):
    """When the staging batch counts as ready: share of files allowed to fail, and how long to wait."""

    max_failure_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    timeout: Duration = Field(default=timedelta(hours=1))
    poke_interval: Duration = Field(default=timedelta(seconds=5))


class ExportConfig(StrictModel):
    destination: UriTemplate
    conn_id: str | None = None
    stage: str = "export"
    max_concurrency: int = Field(default=16, ge=1, le=64)
    transfer_processes: int | None = Field(default=None, ge=0, le=64)
    table_root: str | None = Field(
        default=None,
        min_length=1,
        description="Root of the results table (every pipeline's windows, partitioned); default: "
        "tables/ beside the export folders.",
    )

    @field_validator("destination")
    @classmethod
    def _destination_template(cls, value: str) -> str:
        return check_uri_template(value)

    @field_validator("table_root")
    @classmethod
    def _fixed_table_root(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "://" in value and not value.startswith(URI_SCHEMES):
            raise ValueError(f"unsupported URI scheme in {value!r}; use s3://, gs://, file:// or a path")
        return check_table_root(value)

    @property
    def results_table_root(self) -> str:
        """The table root as configured, or ``tables/`` beside the export folders."""
        return self.table_root or default_table_root(self.destination)


def _check_schedule(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if value in CRON_PRESETS or is_duration(value):
        return value
    from croniter import croniter

    if not croniter.is_valid(value):
        presets = ", ".join(CRON_PRESETS)
        raise ValueError(
            f"{value!r} is neither a cron expression ('0 * * * *'), a preset ({presets}) "
            "nor an interval such as '1h' or '1d'"
        )
    return value


def check_timezone(value: str) -> str:
    import pendulum

    try:
        pendulum.timezone(value)
    except Exception:
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as 'UTC' or 'Europe/Berlin')"
        ) from None
    return value


class _PipelineSettings(StrictModel):
    """Everything a pipeline may inherit from ``defaults``."""

    owner: str = Field(default="data-platform", min_length=1)
    roboflow_conn_id: str = "roboflow_default"
    schedule: str | None = "1d"
    timezone: str = "UTC"
    start_date: DateTime = datetime(2026, 1, 1)
    end_date: DateTime | None = None
    catchup: bool = False
    max_active_runs: int = Field(default=1, ge=1)
    retries: int = Field(default=3, ge=0, le=20)
    retry_delay: Duration = Field(default=timedelta(minutes=1))
    max_retry_delay: Duration = Field(default=timedelta(minutes=30))
    retry_exponential_backoff: float = Field(default=2.0, ge=0.0)
    pool: str = Field(default="roboflow_api", min_length=1)
    tags: list[str] = Field(default_factory=list)
    deferrable: bool = True
    webhook_url: str | None = None
    max_batch_objects: int | None = Field(
        default=None,
        ge=1,
        description="Objects per staging batch and job; a larger window fans out (default by media).",
    )
    # With webhook_url set, the waits ask Roboflow only this often; a notification ends them sooner.
    webhook_fallback_interval: Duration = Field(default=timedelta(minutes=2))
    state_location: str | None = Field(
        default=None,
        min_length=1,
        description="Where the pipeline keeps what every worker must see across runs (a folder per "
        "pipeline inside it); default by source kind, see pipeline/state_location.py.",
    )
    state_conn_id: str | None = None
    # Off: content this pipeline already processed in another window is not sent again.
    reprocess_unchanged: bool = False

    @field_validator("state_location")
    @classmethod
    def _state_location(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "{" in value or "}" in value:
            raise ValueError(
                "state_location is one place for every run, not a template: remove the placeholder "
                f"in {value!r}"
            )
        if "://" in value and not value.startswith(URI_SCHEMES):
            raise ValueError(f"unsupported URI scheme in {value!r}; use s3://, gs://, file:// or a path")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        return _check_schedule(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        return check_timezone(value)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"a webhook URL must start with http:// or https://, got {value!r}")
        return value


class PipelineDefaults(_PipelineSettings):
    """The ``defaults`` block: pipeline settings plus partial job/readiness/export options."""

    # Partial blocks, merged key by key into each pipeline's block; the loader checks their keys.
    job: dict[str, Any] = Field(default_factory=dict)
    readiness: dict[str, Any] = Field(default_factory=dict)
    export: dict[str, Any] = Field(default_factory=dict)
    workflow: dict[str, Any] = Field(default_factory=dict)
    cost: dict[str, Any] = Field(default_factory=dict)
    preflight: dict[str, Any] = Field(default_factory=dict)


class PipelineConfig(_PipelineSettings):
    """One pipeline: one DAG named ``roboflow_<id>``."""

    id: str
    description: str | None = None
    source: Source
    workflow: WorkflowConfig
    job: JobOptions = Field(default_factory=JobOptions)
    readiness: ReadinessConfig = Field(default_factory=ReadinessConfig)
    export: ExportConfig
    cost: CostConfig = Field(default_factory=CostConfig)
    preflight: PreflightConfig = Field(default_factory=PreflightConfig)

    @field_validator("id")
    @classmethod
    def _pipeline_id(cls, value: str) -> str:
        if not PIPELINE_ID.match(value):
            raise ValueError(
                f"{value!r} is not a valid pipeline id: use 1-48 of lower-case letters, digits, '_' "
                "and '-', starting with a letter or digit"
            )
        return value

    @model_validator(mode="after")
    def _media_specific_options(self) -> PipelineConfig:
        if self.source.media == "videos" and self.job.max_image_failure_rate is not None:
            raise ValueError(
                "job.max_image_failure_rate applies to image pipelines only (source.media: videos)"
            )
        if self.source.media == "images" and self.job.max_video_fps is not None:
            raise ValueError("job.max_video_fps applies to video pipelines only (source.media: images)")
        start, end = (
            in_pipeline_zone(self.start_date, self.timezone),
            in_pipeline_zone(self.end_date, self.timezone),
        )
        if end is not None and start is not None and end <= start:
            raise ValueError("end_date must be after start_date")
        self._check_table_root()
        return self

    def _check_table_root(self) -> None:
        """The table and the export folders must not hold each other: a window's export would land in
        the table (or a window's table file in an export folder)."""
        root = self.export.results_table_root
        folder = self.export.destination.format(**{**_SAMPLE_TEMPLATE_VALUES, "pipeline": self.id})
        if is_inside(folder, root) or is_inside(root, folder):
            raise ValueError(
                f"export.table_root {root!r} and export.destination {self.export.destination!r} overlap "
                f"(pipeline {self.id!r} exports to {folder!r}); set export.table_root to a folder apart"
            )

    @property
    def dag_id(self) -> str:
        return f"roboflow_{self.id}"

    def source_conn_for(self, location: str) -> str | None:
        """The source's connection when ``location`` is on the source's kind of storage, else None.

        An S3-compatible store (moto, MinIO, R2) is only reachable through the connection that names
        its endpoint, so a references file, export folder or state location in the same storage uses
        that connection.
        """
        source = self.source
        if isinstance(source, S3Source) and location.startswith("s3://"):
            return source.conn_id
        if isinstance(source, GCSSource) and location.startswith("gs://"):
            return source.conn_id
        return None

    @property
    def references_connection(self) -> str | None:
        """The connection that writes and reads the references files (None for local sources)."""
        source = self.source
        if isinstance(source, LocalSource):
            return None
        return source.references_conn_id or self.source_conn_for(source.references_uri)


def in_pipeline_zone(value: datetime | None, timezone: str) -> datetime | None:
    """A time of astro.yaml; one written without a time zone is in the pipeline's ``timezone``."""
    import pendulum

    if value is None:
        return None
    return value if value.tzinfo else pendulum.instance(value, tz=timezone)
