"""The emulator's in-memory world: staging batches, their files and shards, jobs, counters.

All mutation happens under `Store.lock` (one re-entrant lock: simple and safe at this scale);
long work such as fetching URLs or running workflows happens outside it.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from include.roboflow_emulator.clock import EmulatorClock
from include.roboflow_emulator.timestamps import rfc3339, utc_now

SIMPLE_BATCH = "simple-batch"
SHARDED_BATCH = "sharded-batch"
MULTIPART_BATCH = "multipart-batch"


def omit_unset(data: dict[str, Any]) -> dict[str, Any]:
    """The contract leaves optional keys out when they have no value rather than sending null."""
    return {key: value for key, value in data.items() if value is not None}


def wire_name(key: str) -> dict[str, str]:
    """Field metadata for a field the API sends under another name than its camelCase one."""
    return {"wire": key}


def _camel_case(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def _wire_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return rfc3339(value)
    # Copied, so that a response never aliases the live state it was made from.
    return list(value) if isinstance(value, list) else value


def to_wire(record: Any, *, skip: Collection[str] = ()) -> dict[str, Any]:
    """A dataclass record as the API sends it: every field but those in ``skip`` (the emulator's own
    bookkeeping) under its camelCase name or its ``wire_name``, times as RFC 3339 text."""
    return {
        item.metadata.get("wire", _camel_case(item.name)): _wire_value(getattr(record, item.name))
        for item in fields(record)
        if item.name not in skip
    }


@dataclass
class StoredFile:
    file_name: str
    content: bytes
    content_type: str  # images | videos | metadata | archives
    shard_id: str | None = None
    part_name: str | None = None
    nested_content_type: str | None = None


@dataclass
class FailedFile:
    file_name: str
    type: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"fileName": self.file_name, "type": self.type, "reason": self.reason}


@dataclass
class Shard:
    shard_id: str
    ingest_id: str
    expected_files: int
    status_name: str = "indexing"
    status_type: str = "info"
    event_timestamp: datetime = field(default_factory=utc_now)
    ingested_files: list[str] = field(default_factory=list)
    failed_files: list[FailedFile] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "shardId": self.shard_id,
            "statusName": self.status_name,
            "statusType": self.status_type,
            "eventTimestamp": rfc3339(self.event_timestamp),
            "shardObjectsCount": len(self.ingested_files) if self.status_type != "info" else 0,
            "statusMetadata": {
                "ingestId": self.ingest_id,
                "expectedFiles": self.expected_files,
                "ingestedFiles": len(self.ingested_files),
                "failedFiles": [f.to_json() for f in self.failed_files],
            },
        }


@dataclass
class Ingest:
    ingest_id: str
    shard_ids: list[str]
    notifications_url: str | None = None
    categories: tuple[str, ...] = ("ingest-status",)


@dataclass
class BatchPart:
    part_name: str
    part_type: str
    content_type: str
    description: str | None = field(default=None, metadata=wire_name("partDescription"))
    nested_content_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        return omit_unset(to_wire(self))


@dataclass
class Batch:
    batch_id: str
    display_name: str
    batch_type: str
    content_type: str = field(metadata=wire_name("batchContentType"))
    created: datetime = field(default_factory=utc_now, metadata=wire_name("createdDate"))
    retention: timedelta = timedelta(days=7)
    # Files keyed by (part name or "", file name): a re-ingested name replaces the old file.
    files: dict[tuple[str, str], StoredFile] = field(default_factory=dict)
    shards: list[Shard] = field(default_factory=list)
    ingests: dict[str, Ingest] = field(default_factory=dict)
    parts: dict[str, BatchPart] = field(default_factory=dict)
    consumed_uploads: set[str] = field(default_factory=set)

    @property
    def expiry(self) -> datetime:
        return self.created + self.retention

    def to_json(self) -> dict[str, Any]:
        bookkeeping = ("retention", "files", "shards", "ingests", "parts", "consumed_uploads")
        return {**to_wire(self, skip=bookkeeping), "expiryDate": rfc3339(self.expiry)}

    def sorted_files(self, part_name: str | None = None) -> list[StoredFile]:
        chosen = [f for (part, _), f in self.files.items() if part_name is None or part == part_name]
        return sorted(chosen, key=lambda f: (f.part_name or "", f.shard_id or "", f.file_name))


@dataclass
class Task:
    task_id: str
    status_type: str = "info"
    progress: float | None = None
    message: str = "Waiting to start."
    event_timestamp: datetime = field(default_factory=utc_now)

    def to_json(self) -> dict[str, Any]:
        return {
            "taskId": self.task_id,
            "notification": {"type": "task-status-v1", "message": self.message},
            "statusType": self.status_type,
            "progress": self.progress,
            "eventTimestamp": rfc3339(self.event_timestamp),
        }


@dataclass
class Stage:
    stage_id: str
    tasks: list[Task]
    output_batches: list[str]
    status_type: str = "info"
    message: str = "Stage started."
    start: datetime = field(default_factory=utc_now)
    last_event: datetime = field(default_factory=utc_now)

    def to_json(self) -> dict[str, Any]:
        return {
            "processingStageId": self.stage_id,
            "processingStageName": self.stage_id,
            "tasksNumber": len(self.tasks),
            "outputBatches": list(self.output_batches),
            "startTimestamp": rfc3339(self.start),
            "notification": {"type": "stage-status-v1", "message": self.message},
            "statusType": self.status_type,
            "lastEventTimestamp": rfc3339(self.last_event),
        }


@dataclass
class JobLog:
    created: datetime = field(metadata=wire_name("createdAt"))
    severity: str
    log_type: str
    payload: dict[str, Any]
    stage_id: str | None = field(default=None, metadata=wire_name("processingStageId"))
    task_id: str | None = None
    module: str = field(default="batch-processing", metadata=wire_name("reportingModule"))

    def to_json(self) -> dict[str, Any]:
        return to_wire(self)


@dataclass
class Job:
    job_id: str
    name: str
    definition: dict[str, Any] = field(metadata=wire_name("jobDefinition"))
    planned_stages: list[str]
    created: datetime = field(default_factory=utc_now, metadata=wire_name("createdAt"))
    last_update: datetime = field(default_factory=utc_now)
    current_stage: str | None = None
    error: bool = False
    is_terminal: bool = False
    last_notification: dict[str, Any] = field(
        default_factory=lambda: {"type": "job-status-v1", "message": "Job accepted."}
    )
    overrides: list[dict[str, Any]] = field(
        default_factory=list, metadata=wire_name("restartParametersOverride")
    )
    stages: dict[str, Stage] = field(default_factory=dict)
    logs: list[JobLog] = field(default_factory=list)
    # Bumped on abort/restart/reset: a runner of an older generation stops touching the job.
    generation: int = 0
    restarts: int = 0

    def to_json(self) -> dict[str, Any]:
        return to_wire(self, skip=("stages", "logs", "generation", "restarts"))

    def log(
        self,
        severity: str,
        log_type: str,
        payload: dict[str, Any],
        stage_id: str | None = None,
        task_id: str | None = None,
    ) -> None:
        self.logs.append(JobLog(utc_now(), severity, log_type, payload, stage_id=stage_id, task_id=task_id))
        self.last_update = utc_now()


@dataclass
class WebhookDelivery:
    event_id: str
    event_type: str
    url: str
    attempt: int = field(metadata=wire_name("deliveryAttempt"))
    outcome: str  # HTTP status as text, or the transport error

    def to_json(self) -> dict[str, Any]:
        return to_wire(self)


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.batches: dict[str, Batch] = {}
        self.jobs: dict[str, Job] = {}
        self.job_creations: Counter[str] = Counter()
        self.requests: Counter[str] = Counter()
        self.faults_injected: Counter[str] = Counter()
        self.webhook_deliveries: list[WebhookDelivery] = []
        self.uploads: dict[str, dict[str, Any]] = {}
        self.epoch = 0
        self.clock = EmulatorClock()

    def live_batch(self, batch_id: str) -> Batch | None:
        """The batch under ``batch_id`` unless it never existed or has expired (caller holds the lock)."""
        batch = self.batches.get(batch_id)
        return batch if batch is not None and batch.expiry > self.clock.now() else None

    def reset(self) -> None:
        with self.lock:
            for job in self.jobs.values():
                job.generation += 1
            self.batches.clear()
            self.jobs.clear()
            self.job_creations.clear()
            self.requests.clear()
            self.faults_injected.clear()
            self.webhook_deliveries.clear()
            self.uploads.clear()
            self.epoch += 1
            self.clock.reset()

    def digest(self) -> str:
        """A sha256 of everything a client's calls can create or change: batches with their files'
        bytes, shards, ingests and parts, jobs with their definitions, stages, tasks and logs, job
        creations, pending uploads and webhook deliveries. Request counters are left out: reading
        the API counts requests but changes nothing."""
        import hashlib
        import json

        def encode(value: Any) -> Any:
            if isinstance(value, bytes):
                return hashlib.sha256(value).hexdigest()
            if isinstance(value, datetime):
                return rfc3339(value)
            if isinstance(value, dict):
                return {str(key): encode(item) for key, item in value.items()}
            if isinstance(value, list | tuple | set):
                items = [encode(item) for item in value]
                return sorted(items, key=repr) if isinstance(value, set) else items
            if hasattr(value, "__dataclass_fields__"):
                return {item.name: encode(getattr(value, item.name)) for item in fields(value)}
            return value

        with self.lock:
            world = {
                "batches": {key: encode(batch) for key, batch in sorted(self.batches.items())},
                "jobs": {key: encode(job) for key, job in sorted(self.jobs.items())},
                "jobCreations": dict(sorted(self.job_creations.items())),
                "uploads": encode(dict(sorted(self.uploads.items()))),
                "webhookDeliveries": encode(self.webhook_deliveries),
            }
        text = json.dumps(world, sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()

    def snapshot(self) -> dict[str, Any]:
        """The read-only view served by `GET /__emulator__/state`."""
        with self.lock:
            batches: dict[str, Any] = {}
            now = self.clock.now()
            for batch in self.batches.values():
                per_part: dict[str, int] = defaultdict(int)
                for part, _ in batch.files:
                    per_part[part] += 1
                batches[batch.batch_id] = {
                    "batchType": batch.batch_type,
                    "contentType": batch.content_type,
                    "fileCount": len(batch.files),
                    "filesPerPart": dict(per_part) if batch.parts else {},
                    "shards": len(batch.shards),
                    "shardsIndexing": sum(1 for s in batch.shards if s.status_type == "info"),
                    "failedFiles": sum(len(s.failed_files) for s in batch.shards),
                    "ingestIds": sorted(batch.ingests),
                    "expired": batch.expiry <= now,
                }
            return {
                "jobCreations": dict(self.job_creations),
                "jobs": {
                    j.job_id: {
                        "currentStage": j.current_stage,
                        "isTerminal": j.is_terminal,
                        "error": j.error,
                        "restarts": j.restarts,
                    }
                    for j in self.jobs.values()
                },
                "requests": dict(self.requests),
                "faultsInjected": dict(self.faults_injected),
                "batches": batches,
                "webhookDeliveries": [d.to_json() for d in self.webhook_deliveries],
                "clock": {"now": rfc3339(now), "offsetSeconds": self.clock.offset.total_seconds()},
            }
