"""Typed views of the API's JSON: snake_case attributes, the contract's camelCase on the wire.

Unknown keys are ignored (the server may add fields); a missing required key is an error that the
transport turns into ``ResponseDecodeError``. Signed URLs are excluded from ``repr`` because they
are bearer secrets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
from pydantic.alias_generators import to_camel


def _assume_utc(value: datetime) -> datetime:
    # The contract promises offsets; a naive stamp would break arithmetic with aware ones.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


ItemT = TypeVar("ItemT")
Timestamp = Annotated[datetime, AfterValidator(_assume_utc)]


class RoboflowModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )


class BatchMetadata(RoboflowModel):
    display_name: str
    batch_id: str
    batch_type: str
    batch_content_type: str
    created_date: Timestamp
    expiry_date: Timestamp


class BatchPart(RoboflowModel):
    part_name: str
    part_type: str
    content_type: str
    part_description: str | None = None
    nested_content_type: str | None = None


class FileMetadata(RoboflowModel):
    download_url: str = Field(alias="downloadURL", repr=False)
    file_name: str
    content_type: str
    part_name: str | None = None
    shard_id: str | None = None
    nested_content_type: str | None = None


class ShardDetails(RoboflowModel):
    shard_id: str
    status_name: str
    status_type: str
    event_timestamp: Timestamp
    shard_objects_count: int
    status_metadata: dict[str, Any] | None = None


class SignedURLDetails(RoboflowModel):
    upload_url: str = Field(alias="uploadURL", repr=False)
    extension_headers: dict[str, str] = Field(default_factory=dict, repr=False)


class IngestResult(RoboflowModel):
    ingest_id: str
    shard_ids: list[str] = Field(default_factory=list)
    duplicated: bool = False


class JobMetadata(RoboflowModel):
    job_id: str
    name: str
    job_definition: dict[str, Any]
    current_stage: str | None = None
    planned_stages: list[str] | None = None
    error: bool = False
    is_terminal: bool = False
    last_notification: dict[str, Any] | str | None = None
    created_at: Timestamp
    last_update: Timestamp
    restart_parameters_override: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.is_terminal and not self.error


class JobStage(RoboflowModel):
    processing_stage_id: str
    processing_stage_name: str
    tasks_number: int
    output_batches: list[str]
    start_timestamp: Timestamp
    notification: dict[str, Any] | str
    status_type: str
    last_event_timestamp: Timestamp


class TaskStatus(RoboflowModel):
    task_id: str
    notification: dict[str, Any] | str
    status_type: str
    progress: float | None = None
    event_timestamp: Timestamp


class JobLog(RoboflowModel):
    created_at: Timestamp
    processing_stage_id: str | None = None
    task_id: str | None = None
    severity: Literal["info", "error", "warning"]
    reporting_module: str
    log_type: str
    payload: dict[str, Any]


# Response envelopes -------------------------------------------------------------------------------


class WorkspaceEnvelope(RoboflowModel):
    workspace: str


class BatchEnvelope(RoboflowModel):
    batch: BatchMetadata


class CountEnvelope(RoboflowModel):
    count: int


class PartsEnvelope(RoboflowModel):
    batch_parts: list[BatchPart]


class SignedURLEnvelope(RoboflowModel):
    signed_url_details: SignedURLDetails = Field(alias="signedURLDetails")


class JobEnvelope(RoboflowModel):
    job: JobMetadata


class StagesEnvelope(RoboflowModel):
    stages: list[JobStage]


class ListPage(RoboflowModel, Generic[ItemT]):
    """A page of a list endpoint: its items, which each endpoint sends under its own key."""

    items: list[ItemT]
    next_page_token: str | None = None


def _list_page(name: str, key: str, item: type[ItemT]) -> type[ListPage[ItemT]]:
    """The page model, ``name`` in decode errors, of the list endpoint whose items arrive under ``key``."""
    # ``item`` is a class known only at run time, which mypy cannot use as a type argument.
    base: Any = ListPage[item]  # type: ignore[valid-type]
    items_field: Any = (list[item], Field(alias=key))  # type: ignore[valid-type]
    return cast(type[ListPage[ItemT]], create_model(name, __base__=base, items=items_field))


BatchesPage = _list_page("BatchesPage", "batches", BatchMetadata)
FilesPage = _list_page("FilesPage", "filesMetadata", FileMetadata)
ShardsPage = _list_page("ShardsPage", "shards", ShardDetails)
JobsPage = _list_page("JobsPage", "jobs", JobMetadata)
TasksPage = _list_page("TasksPage", "tasks", TaskStatus)
LogsPage = _list_page("LogsPage", "logs", JobLog)
