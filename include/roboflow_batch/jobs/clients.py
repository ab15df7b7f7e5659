"""The job endpoints the job step calls, as Protocols: the real clients and the test fakes both fit them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, Protocol

from include.roboflow_batch.api.jobs import RestartOverrides
from include.roboflow_batch.api.models import JobLog, JobMetadata, JobStage, TaskStatus


class JobsClient(Protocol):
    """What ``RoboflowClient`` offers the job step (docs/roboflow-api.md §3)."""

    def get_job(self, job_id: str) -> JobMetadata: ...

    def create_job(self, job_id: str, body: Mapping[str, Any], name: str | None = None) -> None: ...

    def list_job_stages(self, job_id: str) -> list[JobStage]: ...

    def iter_stage_tasks(self, job_id: str, stage_id: str) -> Iterator[TaskStatus]: ...

    def iter_job_logs(self, job_id: str, severity: str | None = None) -> Iterator[JobLog]: ...

    def abort_job(self, job_id: str) -> dict[str, Any]: ...

    def restart_job(self, job_id: str, overrides: RestartOverrides | None = None) -> dict[str, Any]: ...


class AsyncJobsClient(Protocol):
    """What ``AsyncRoboflowClient`` offers the job trigger."""

    async def get_job(self, job_id: str) -> JobMetadata: ...

    async def list_job_stages(self, job_id: str) -> list[JobStage]: ...

    def iter_stage_tasks(self, job_id: str, stage_id: str) -> AsyncIterator[TaskStatus]: ...

    def iter_job_logs(self, job_id: str, severity: str | None = None) -> AsyncIterator[JobLog]: ...

    async def abort_job(self, job_id: str) -> dict[str, Any]: ...
