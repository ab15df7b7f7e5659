"""``AsyncRoboflowClient``: the asynchronous twin of ``api.client.RoboflowClient``, for triggers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Unpack

import httpx

from include.roboflow_batch.api import endpoints, job_endpoints
from include.roboflow_batch.api.client_base import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ClientBase,
    ItemT,
    ReferenceIngest,
    next_page_token,
    retry_policy_of,
)
from include.roboflow_batch.api.jobs import RestartOverrides
from include.roboflow_batch.api.models import (
    BatchMetadata,
    BatchPart,
    FileMetadata,
    IngestResult,
    JobLog,
    JobMetadata,
    JobStage,
    ShardDetails,
    SignedURLDetails,
    TaskStatus,
)
from include.roboflow_batch.api.request_spec import PageSpec
from include.roboflow_batch.api.retries import RetryPolicy
from include.roboflow_batch.api.transport import AsyncTransport


class AsyncRoboflowClient(ClientBase):
    """Asynchronous twin of ``RoboflowClient`` (same arguments and method names); use ``async with``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        workspace: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_policy: RetryPolicy | None = None,
        key_source: str | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        transport = AsyncTransport(
            base_url,
            api_key,
            timeout=timeout,
            policy=retry_policy_of(max_retries, retry_policy),
            http_client=http_client,
        )
        self._attach(transport, workspace=workspace, key_source=key_source)
        self._transport: AsyncTransport = transport
        self._owns_http = http_client is None

    async def __aenter__(self) -> AsyncRoboflowClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._transport.aclose()

    async def _paginate(self, pages_in: Callable[[str], PageSpec[ItemT]]) -> AsyncIterator[ItemT]:
        """Every item of a list endpoint; ``pages_in`` gets the workspace, which may take a lookup first."""
        make_spec = pages_in(await self.get_workspace())
        token: str | None = None
        seen: set[str] = set()
        while True:
            spec = make_spec(token)
            page = await self._transport.execute(spec)
            for item in page.items:
                yield item
            token = next_page_token(spec.operation, page.next_page_token, seen)
            if token is None:
                return

    # Workspace -------------------------------------------------------------------------------------

    async def lookup_workspace(self) -> str:
        self._workspace = await self._transport.execute(endpoints.workspace_lookup())
        return self._workspace

    async def get_workspace(self) -> str:
        return self._workspace or await self.lookup_workspace()

    # Data Staging ----------------------------------------------------------------------------------

    def iter_batches(self, page_size: int | None = None) -> AsyncIterator[BatchMetadata]:
        return self._paginate(lambda workspace: endpoints.list_batches(workspace, page_size))

    async def get_batch(self, batch_id: str) -> BatchMetadata:
        return await self._transport.execute(endpoints.get_batch(await self.get_workspace(), batch_id))

    async def count_batch(self, batch_id: str, part_name: str | None = None) -> int:
        spec = endpoints.count_batch(await self.get_workspace(), batch_id, part_name)
        return await self._transport.execute(spec)

    async def list_batch_parts(self, batch_id: str) -> list[BatchPart]:
        return await self._transport.execute(endpoints.list_batch_parts(await self.get_workspace(), batch_id))

    def iter_batch_files(
        self, batch_id: str, part_name: str | None = None, page_size: int | None = None
    ) -> AsyncIterator[FileMetadata]:
        return self._paginate(
            lambda workspace: endpoints.list_batch_files(workspace, batch_id, part_name, page_size)
        )

    def iter_shards(self, batch_id: str, page_size: int | None = None) -> AsyncIterator[ShardDetails]:
        return self._paginate(lambda workspace: endpoints.list_shards(workspace, batch_id, page_size))

    async def upload_image(
        self, batch_id: str, file_name: str, content: bytes, display_name: str | None = None
    ) -> None:
        spec = endpoints.upload_image(await self.get_workspace(), batch_id, file_name, content, display_name)
        await self._transport.execute(spec)

    async def request_video_upload(
        self, batch_id: str, file_name: str, display_name: str | None = None
    ) -> SignedURLDetails:
        spec = endpoints.request_video_upload(await self.get_workspace(), batch_id, file_name, display_name)
        return await self._transport.execute(spec)

    async def request_bulk_image_upload(
        self, batch_id: str, display_name: str | None = None
    ) -> SignedURLDetails:
        spec = endpoints.request_bulk_image_upload(await self.get_workspace(), batch_id, display_name)
        return await self._transport.execute(spec)

    async def ingest_image_references(
        self, batch_id: str, **options: Unpack[ReferenceIngest]
    ) -> IngestResult:
        spec = endpoints.ingest_references(await self.get_workspace(), "images", batch_id, **options)
        return await self._transport.execute(spec)

    async def ingest_video_references(
        self, batch_id: str, **options: Unpack[ReferenceIngest]
    ) -> IngestResult:
        spec = endpoints.ingest_references(await self.get_workspace(), "videos", batch_id, **options)
        return await self._transport.execute(spec)

    async def roboql_ingest(
        self,
        batch_id: str,
        query: str,
        *,
        ingest_id: str | None = None,
        display_name: str | None = None,
        notifications_url: str | None = None,
    ) -> None:
        spec = endpoints.roboql_ingest(
            await self.get_workspace(),
            batch_id,
            query,
            ingest_id=ingest_id,
            display_name=display_name,
            notifications_url=notifications_url,
        )
        await self._transport.execute(spec)

    # Batch Processing ------------------------------------------------------------------------------

    def iter_jobs(self, page_size: int | None = None) -> AsyncIterator[JobMetadata]:
        return self._paginate(lambda workspace: job_endpoints.list_jobs(workspace, page_size))

    async def get_job(self, job_id: str) -> JobMetadata:
        return await self._transport.execute(job_endpoints.get_job(await self.get_workspace(), job_id))

    async def create_job(self, job_id: str, body: Mapping[str, Any], name: str | None = None) -> None:
        await self._transport.execute(
            job_endpoints.create_job(await self.get_workspace(), job_id, body, name)
        )

    async def list_job_stages(self, job_id: str) -> list[JobStage]:
        return await self._transport.execute(
            job_endpoints.list_job_stages(await self.get_workspace(), job_id)
        )

    def iter_stage_tasks(self, job_id: str, stage_id: str) -> AsyncIterator[TaskStatus]:
        return self._paginate(lambda workspace: job_endpoints.list_stage_tasks(workspace, job_id, stage_id))

    async def abort_job(self, job_id: str) -> dict[str, Any]:
        return await self._transport.execute(job_endpoints.abort_job(await self.get_workspace(), job_id))

    async def restart_job(self, job_id: str, overrides: RestartOverrides | None = None) -> dict[str, Any]:
        spec = job_endpoints.restart_job(await self.get_workspace(), job_id, overrides)
        return await self._transport.execute(spec)

    def iter_job_logs(self, job_id: str, severity: str | None = None) -> AsyncIterator[JobLog]:
        return self._paginate(lambda workspace: job_endpoints.list_job_logs(workspace, job_id, severity))
