"""In-memory stand-ins for the Roboflow client, hook, task state store and task context.

The fake client keeps jobs as scripted sequences of states, so tests can say "running, running,
then succeeded" and check what the code under test asked for and in which order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from include.devstack.task_context import FakeStateStore, make_context
from include.roboflow_batch.api.errors import BadRequestError, ConflictError, NotFoundError
from include.roboflow_batch.api.models import (
    BatchMetadata,
    BatchPart,
    FileMetadata,
    JobLog,
    JobMetadata,
    JobStage,
    ShardDetails,
    TaskStatus,
)

# The task context and state store are shared with the ingest tests; re-exported for the job tests.
__all__ = ["FakeStateStore", "make_context"]

T = TypeVar("T")

NOW = "2026-11-28T12:00:00Z"


def job(
    job_id: str = "job-1",
    *,
    terminal: bool = False,
    error: bool = False,
    stage: str | None = "processing",
    notification: Any = None,
    definition: dict[str, Any] | None = None,
    created: str = NOW,
) -> JobMetadata:
    return JobMetadata.model_validate(
        {
            "jobId": job_id,
            "name": job_id,
            "jobDefinition": definition or {},
            "currentStage": stage,
            "plannedStages": ["processing", "export"],
            "error": error,
            "isTerminal": terminal,
            "lastNotification": notification,
            "createdAt": created,
            "lastUpdate": NOW,
        }
    )


def stage(name: str, tasks: int = 2, outputs: list[str] | None = None, start: str = NOW) -> JobStage:
    return JobStage.model_validate(
        {
            "processingStageId": f"{name}-id",
            "processingStageName": name,
            "tasksNumber": tasks,
            "outputBatches": outputs or [],
            "startTimestamp": start,
            "notification": {"type": "info", "message": "ok"},
            "statusType": "info",
            "lastEventTimestamp": NOW,
        }
    )


def task(task_id: str, status: str = "info", progress: float | None = 0.5) -> TaskStatus:
    return TaskStatus.model_validate(
        {
            "taskId": task_id,
            "notification": "n",
            "statusType": status,
            "progress": progress,
            "eventTimestamp": NOW,
        }
    )


def error_log(message: str) -> JobLog:
    return JobLog.model_validate(
        {
            "createdAt": NOW,
            "processingStageId": "processing-id",
            "taskId": "t1",
            "severity": "error",
            "reportingModule": "worker",
            "logType": "task-error",
            "payload": {"message": message},
        }
    )


@dataclass
class Snapshot:
    """One poll's worth of job state."""

    job: JobMetadata
    stages: list[JobStage] = field(default_factory=list)
    tasks: list[TaskStatus] = field(default_factory=list)


class FakeJobs:
    """Job-side API of the client: scripted states per job id, and a record of calls."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Snapshot]] = {}
        self.logs: dict[str, list[JobLog]] = {}
        self.calls: list[tuple[str, Any]] = []
        self.created: dict[str, dict[str, Any]] = {}
        self.abort_error: Exception | None = None
        self.create_error: Exception | None = None
        self.restart_error: Exception | None = None
        self.restarted: list[tuple[str, dict[str, Any] | None]] = []
        self.get_error: Exception | None = None
        self.position: dict[str, int] = {}
        self.polled: dict[str, bool] = {}
        # Output batches Roboflow no longer has (expired); every other batch id exists.
        self.expired_batches: set[str] = set()

    def script(self, job_id: str, *snapshots: Snapshot) -> None:
        self.scripts[job_id] = list(snapshots)
        self.position[job_id] = 0
        self.polled[job_id] = False

    def _current(self, job_id: str) -> Snapshot:
        if job_id not in self.scripts:
            raise NotFoundError("job not found", status_code=404, operation="get job")
        return self.scripts[job_id][self.position[job_id]]

    def get_job(self, job_id: str) -> JobMetadata:
        """Each call after the first moves the script one state on (one poll = one get_job)."""
        self.calls.append(("get_job", job_id))
        if self.get_error is not None:
            raise self.get_error
        if job_id in self.scripts:
            if self.polled[job_id]:
                self.position[job_id] = min(self.position[job_id] + 1, len(self.scripts[job_id]) - 1)
            self.polled[job_id] = True
        return self._current(job_id).job

    def list_job_stages(self, job_id: str) -> list[JobStage]:
        self.calls.append(("list_job_stages", job_id))
        return self._current(job_id).stages

    def iter_stage_tasks(self, job_id: str, stage_id: str) -> Iterator[TaskStatus]:
        self.calls.append(("iter_stage_tasks", (job_id, stage_id)))
        return iter(self._current(job_id).tasks)

    def iter_job_logs(self, job_id: str, severity: str | None = None) -> Iterator[JobLog]:
        self.calls.append(("iter_job_logs", (job_id, severity)))
        return iter([log for log in self.logs.get(job_id, []) if severity in (None, log.severity)])

    def create_job(self, job_id: str, body: dict[str, Any], name: str | None = None) -> None:
        self.calls.append(("create_job", job_id))
        if self.create_error is not None:
            raise self.create_error
        self.created[job_id] = body
        if job_id not in self.scripts:
            self.script(job_id, Snapshot(job(job_id, stage=None, definition=body)))

    def abort_job(self, job_id: str) -> dict[str, Any]:
        self.calls.append(("abort_job", job_id))
        if self.abort_error is not None:
            raise self.abort_error
        return {"status": "ok"}

    def restart_job(self, job_id: str, overrides: Any = None) -> dict[str, Any]:
        """Like the service: the job runs again (its next snapshot is a running copy of the definition)."""
        self.calls.append(("restart_job", job_id))
        if self.restart_error is not None:
            raise self.restart_error
        body = overrides.to_body() if overrides is not None else None
        self.restarted.append((job_id, body))
        definition = self._current(job_id).job.job_definition
        self.script(job_id, Snapshot(job(job_id, stage=None, definition=definition)))
        return {"status": "ok", "jobId": job_id}

    def get_batch(self, batch_id: str) -> BatchMetadata:
        self.calls.append(("get_batch", batch_id))
        if batch_id in self.expired_batches:
            raise NotFoundError("batch not found", status_code=404, operation="get batch")
        return batch(batch_id)

    def call_names(self) -> list[str]:
        return [name for name, _ in self.calls]


class AsyncFakeJobs:
    """Async face of :class:`FakeJobs` (what ``hook.aget_client()`` returns)."""

    def __init__(self, jobs: FakeJobs) -> None:
        self.jobs = jobs
        self.entered = 0

    async def __aenter__(self) -> AsyncFakeJobs:
        self.entered += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def get_job(self, job_id: str) -> JobMetadata:
        return self.jobs.get_job(job_id)

    async def list_job_stages(self, job_id: str) -> list[JobStage]:
        return self.jobs.list_job_stages(job_id)

    async def iter_stage_tasks(self, job_id: str, stage_id: str) -> AsyncIterator[TaskStatus]:
        for item in self.jobs.iter_stage_tasks(job_id, stage_id):
            yield item

    async def iter_job_logs(self, job_id: str, severity: str | None = None) -> AsyncIterator[JobLog]:
        for item in self.jobs.iter_job_logs(job_id, severity):
            yield item

    async def abort_job(self, job_id: str) -> dict[str, Any]:
        return self.jobs.abort_job(job_id)


class FakeHook:
    workspace = "demo-workspace"

    def __init__(self, client: Any) -> None:
        self.client = client
        self.async_client = AsyncFakeJobs(client) if isinstance(client, FakeJobs) else None

    def get_client(self) -> Any:
        return self.client

    async def aget_client(self) -> Any:
        return self.async_client

    def job_url(self, job_id: str) -> str:
        return f"https://app.roboflow.example/demo-workspace/batch-processing/{job_id}"


def serve_through_hook(monkeypatch: Any, client: T, *task_classes: type) -> T:
    """Make every task of ``task_classes`` reach ``client`` through one :class:`FakeHook`."""
    hook = FakeHook(client)
    for task_class in task_classes:
        monkeypatch.setattr(task_class, "_hook", lambda self: hook)
    return client


def refusal(message: str = "job can only be aborted in processing stage") -> BadRequestError:
    return BadRequestError(message, status_code=400, operation="abort job")


def conflict() -> ConflictError:
    return ConflictError("job exists with different definition", status_code=409, operation="create job")


# -- staging side (export) ---------------------------------------------------------------------------


def batch(
    batch_id: str, batch_type: str = "multipart-batch", expiry: str = "2026-12-05T12:00:00Z"
) -> BatchMetadata:
    return BatchMetadata.model_validate(
        {
            "displayName": batch_id,
            "batchId": batch_id,
            "batchType": batch_type,
            "batchContentType": "archives",
            "createdDate": NOW,
            "expiryDate": expiry,
        }
    )


class FakeStaging:
    """Data-staging side for the export: batches, parts, files and signed downloads served from memory."""

    def __init__(self, jobs: FakeJobs) -> None:
        self.jobs = jobs
        self.batches: dict[str, BatchMetadata] = {}
        self.parts: dict[str, list[str]] = {}
        self.files: dict[tuple[str, str | None], list[FileMetadata]] = {}
        self.blobs: dict[str, bytes] = {}
        self.shards: dict[str, list[ShardDetails]] = {}
        self.downloads: list[str] = []
        self.download_error: dict[str, Exception] = {}
        self._lock = threading.Lock()
        self.active = 0
        self.peak = 0
        self.download_delay = 0.0

    # job methods are delegated, so one object is "the client"
    def __getattr__(self, name: str) -> Any:
        return getattr(self.jobs, name)

    def add_file(self, batch_id: str, part: str | None, name: str, content: bytes, shard: str = "s1") -> None:
        url = f"http://127.0.0.1:1/blob/{batch_id}/{part}/{shard}/{name}?X-Signature=secret"
        self.blobs[url] = content
        self.files.setdefault((batch_id, part), []).append(
            FileMetadata.model_validate(
                {
                    "downloadURL": url,
                    "fileName": name,
                    "contentType": "archives",
                    "partName": part,
                    "shardId": shard,
                }
            )
        )

    def get_batch(self, batch_id: str) -> BatchMetadata:
        if batch_id not in self.batches:
            raise NotFoundError("batch not found", status_code=404, operation="get batch")
        return self.batches[batch_id]

    def list_batch_parts(self, batch_id: str) -> list[BatchPart]:
        return [
            BatchPart.model_validate({"partName": p, "partType": "simple-batch", "contentType": "archives"})
            for p in self.parts.get(batch_id, [])
        ]

    def iter_batch_files(self, batch_id: str, part_name: str | None = None, page_size: int | None = None):
        return iter(self.files.get((batch_id, part_name), []))

    def count_batch(self, batch_id: str, part_name: str | None = None) -> int:
        return len(self.files.get((batch_id, part_name), []))

    def iter_shards(self, batch_id: str, page_size: int | None = None):
        return iter(self.shards.get(batch_id, []))

    def stream_download(self, url: str, consume: Callable[[Iterator[bytes]], T]) -> T:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            if self.download_delay:
                time.sleep(self.download_delay)
            if url in self.download_error:
                raise self.download_error[url]
            self.downloads.append(url)
            blob = self.blobs[url]
            return consume(iter([blob[i : i + 7919] for i in range(0, len(blob), 7919)]))
        finally:
            with self._lock:
                self.active -= 1

    def download_file(self, url: str, dest_path: str | Path) -> None:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            if self.download_delay:
                time.sleep(self.download_delay)
            if url in self.download_error:
                raise self.download_error[url]
            self.downloads.append(url)
            Path(dest_path).write_bytes(self.blobs[url])
        finally:
            with self._lock:
                self.active -= 1


def shard(shard_id: str, failed: list[dict[str, str]] | None = None, count: int = 0) -> ShardDetails:
    return ShardDetails.model_validate(
        {
            "shardId": shard_id,
            "statusName": "done",
            "statusType": "warning" if failed else "success",
            "eventTimestamp": NOW,
            "shardObjectsCount": count,
            "statusMetadata": {"failedFiles": failed or []},
        }
    )


class RecordingLog:
    """A logger that keeps formatted messages per level (Airflow's structlog output bypasses caplog)."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []

    def _record(self, level: str, msg: str, *args: Any, **_: Any) -> None:
        self.records.append((level, msg % args if args else msg))

    def debug(self, msg: str, *args: Any, **kw: Any) -> None:
        self._record("debug", msg, *args, **kw)

    def info(self, msg: str, *args: Any, **kw: Any) -> None:
        self._record("info", msg, *args, **kw)

    def warning(self, msg: str, *args: Any, **kw: Any) -> None:
        self._record("warning", msg, *args, **kw)

    def error(self, msg: str, *args: Any, **kw: Any) -> None:
        self._record("error", msg, *args, **kw)

    def exception(self, msg: str, *args: Any, **kw: Any) -> None:
        self._record("error", msg, *args, **kw)

    def messages(self, level: str | None = None) -> list[str]:
        return [m for lvl, m in self.records if level in (None, lvl)]


def record_logs(monkeypatch: Any, cls: type) -> RecordingLog:
    log = RecordingLog()
    monkeypatch.setattr(cls, "log", property(lambda self: log))
    return log
