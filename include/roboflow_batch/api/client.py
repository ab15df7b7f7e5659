"""Roboflow Data Staging and Batch Processing clients: ``RoboflowClient`` (sync, for workers) and
``AsyncRoboflowClient`` (for triggers).

Both expose the same methods, built from the same request specs (``endpoints``); they differ only
in how the bytes travel. List endpoints are exposed as iterators that follow ``nextPageToken``
lazily, one retried request per page.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, NotRequired, TypedDict, TypeVar, Unpack

import httpx

from include.roboflow_batch.api import endpoints, transfers
from include.roboflow_batch.api.endpoints import Page, RequestSpec
from include.roboflow_batch.api.errors import ResponseDecodeError
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
from include.roboflow_batch.api.retries import RetryPolicy
from include.roboflow_batch.api.transport import AsyncTransport, SyncTransport

ItemT = TypeVar("ItemT")

DEFAULT_BASE_URL = "https://api.roboflow.com"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 5

PageSpec = Callable[[str | None], RequestSpec[Page[ItemT]]]


class ReferenceIngest(TypedDict):
    """Options of a reference ingest (D10 image / D11 video references ingest): exactly one of ``references``
    and ``references_url``."""

    ingest_id: str
    references: NotRequired[Sequence[Mapping[str, str]] | None]
    references_url: NotRequired[str | None]
    display_name: NotRequired[str | None]
    notifications_url: NotRequired[str | None]
    notification_categories: NotRequired[Sequence[str] | None]


def _status_hints(key_source: str | None) -> dict[int, str]:
    if not key_source:
        return {}
    return {
        401: f"the API key from {key_source} was rejected",
        402: f"the workspace of the API key from {key_source} does not have this feature on its plan",
    }


def _transport_hint(base_url: str, key_source: str | None) -> str | None:
    return f"the API base URL {base_url} comes from {key_source}" if key_source else None


def _next_token(operation: str, token: str | None, seen: set[str]) -> str | None:
    if not token:
        return None
    if token in seen:
        # A server bug would otherwise make the iterator loop forever.
        raise ResponseDecodeError(f"the server repeated page token {token!r}", operation=operation)
    seen.add(token)
    return token


def _policy(max_retries: int, retry_policy: RetryPolicy | None) -> RetryPolicy:
    return retry_policy if retry_policy is not None else RetryPolicy(max_retries=max_retries)


class _ClientBase:
    """What both clients share: the transport's settings, error hints and the cached workspace."""

    _transport: SyncTransport | AsyncTransport

    def _attach(
        self, transport: SyncTransport | AsyncTransport, *, workspace: str | None, key_source: str | None
    ) -> None:
        transport.status_hints = _status_hints(key_source)
        transport.transport_hint = _transport_hint(transport.base_url, key_source)
        self._transport = transport
        self._workspace = workspace or None

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def timeout(self) -> float:
        return self._transport.timeout

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._transport.policy

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, workspace={self._workspace!r})"


class RoboflowClient(_ClientBase):
    """Synchronous client.

    :param base_url: API root, e.g. ``https://api.roboflow.com`` (a bare host gets ``https://``).
    :param api_key: private API key; sent as the ``api_key`` query parameter, never logged.
    :param workspace: workspace slug; looked up once (``GET /``) when not given.
    :param timeout: seconds per read and write (connecting: at most 10 s); reference ingests get 2x.
    :param max_retries: repeats after the first attempt for retryable failures.
    :param retry_policy: full back-off settings; when given, ``max_retries`` is taken from it.
    :param key_source: where the key came from (e.g. ``Airflow connection 'roboflow_default'``),
        named in 401/402 errors.
    :param http_client: an httpx client to use instead of a private one (left open on close).
    """

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
        http_client: httpx.Client | None = None,
    ) -> None:
        transport = SyncTransport(
            base_url,
            api_key,
            timeout=timeout,
            policy=_policy(max_retries, retry_policy),
            http_client=http_client,
        )
        self._attach(transport, workspace=workspace, key_source=key_source)
        self._transport: SyncTransport = transport
        self._owns_http = http_client is None

    def __enter__(self) -> RoboflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._transport.close()

    def _paginate(self, make_spec: PageSpec[ItemT]) -> Iterator[ItemT]:
        token: str | None = None
        seen: set[str] = set()
        while True:
            spec = make_spec(token)
            page = self._transport.execute(spec)
            yield from page.items
            token = _next_token(spec.operation, page.next_page_token, seen)
            if token is None:
                return

    # Workspace -------------------------------------------------------------------------------------

    def lookup_workspace(self) -> str:
        """Ask the API which workspace the key belongs to (always calls ``GET /``) and cache it."""
        self._workspace = self._transport.execute(endpoints.workspace_lookup())
        return self._workspace

    def get_workspace(self) -> str:
        """The workspace slug: the configured one, else looked up once."""
        return self._workspace or self.lookup_workspace()

    # Data Staging ----------------------------------------------------------------------------------

    def iter_batches(self, page_size: int | None = None) -> Iterator[BatchMetadata]:
        workspace = self.get_workspace()
        return self._paginate(lambda token: endpoints.list_batches(workspace, page_size, token))

    def get_batch(self, batch_id: str) -> BatchMetadata:
        return self._transport.execute(endpoints.get_batch(self.get_workspace(), batch_id))

    def count_batch(self, batch_id: str, part_name: str | None = None) -> int:
        return self._transport.execute(endpoints.count_batch(self.get_workspace(), batch_id, part_name))

    def list_batch_parts(self, batch_id: str) -> list[BatchPart]:
        return self._transport.execute(endpoints.list_batch_parts(self.get_workspace(), batch_id))

    def iter_batch_files(
        self, batch_id: str, part_name: str | None = None, page_size: int | None = None
    ) -> Iterator[FileMetadata]:
        workspace = self.get_workspace()
        return self._paginate(
            lambda token: endpoints.list_batch_files(workspace, batch_id, part_name, page_size, token)
        )

    def iter_shards(self, batch_id: str, page_size: int | None = None) -> Iterator[ShardDetails]:
        workspace = self.get_workspace()
        return self._paginate(lambda token: endpoints.list_shards(workspace, batch_id, page_size, token))

    def upload_image(
        self, batch_id: str, file_name: str, content: bytes, display_name: str | None = None
    ) -> None:
        """Upload one image into a simple batch (D7 single image upload); not repeated after ambiguous
        failures."""
        spec = endpoints.upload_image(self.get_workspace(), batch_id, file_name, content, display_name)
        self._transport.execute(spec)

    def request_video_upload(
        self, batch_id: str, file_name: str, display_name: str | None = None
    ) -> SignedURLDetails:
        spec = endpoints.request_video_upload(self.get_workspace(), batch_id, file_name, display_name)
        return self._transport.execute(spec)

    def request_bulk_image_upload(self, batch_id: str, display_name: str | None = None) -> SignedURLDetails:
        spec = endpoints.request_bulk_image_upload(self.get_workspace(), batch_id, display_name)
        return self._transport.execute(spec)

    def ingest_image_references(self, batch_id: str, **options: Unpack[ReferenceIngest]) -> IngestResult:
        """Register signed image URLs (D10 image references ingest). The server deduplicates on ``ingest_id``
        (``duplicated`` in the result), which makes the call safe to repeat."""
        spec = endpoints.ingest_references(self.get_workspace(), "images", batch_id, **options)
        return self._transport.execute(spec)

    def ingest_video_references(self, batch_id: str, **options: Unpack[ReferenceIngest]) -> IngestResult:
        """Register signed video URLs (D11 video references ingest); deduplicated on ``ingest_id`` like image
        references."""
        spec = endpoints.ingest_references(self.get_workspace(), "videos", batch_id, **options)
        return self._transport.execute(spec)

    def roboql_ingest(
        self,
        batch_id: str,
        query: str,
        *,
        ingest_id: str | None = None,
        display_name: str | None = None,
        notifications_url: str | None = None,
    ) -> None:
        spec = endpoints.roboql_ingest(
            self.get_workspace(),
            batch_id,
            query,
            ingest_id=ingest_id,
            display_name=display_name,
            notifications_url=notifications_url,
        )
        self._transport.execute(spec)

    # Batch Processing ------------------------------------------------------------------------------

    def iter_jobs(self, page_size: int | None = None) -> Iterator[JobMetadata]:
        workspace = self.get_workspace()
        return self._paginate(lambda token: endpoints.list_jobs(workspace, page_size, token))

    def get_job(self, job_id: str) -> JobMetadata:
        return self._transport.execute(endpoints.get_job(self.get_workspace(), job_id))

    def create_job(self, job_id: str, body: Mapping[str, Any], name: str | None = None) -> None:
        """Start a job (B3 create job). Repeating it with the same body is a no-op, so it is retried freely;
        ``ConflictError`` means the id already exists with a different definition."""
        self._transport.execute(endpoints.create_job(self.get_workspace(), job_id, body, name))

    def list_job_stages(self, job_id: str) -> list[JobStage]:
        return self._transport.execute(endpoints.list_job_stages(self.get_workspace(), job_id))

    def iter_stage_tasks(self, job_id: str, stage_id: str) -> Iterator[TaskStatus]:
        workspace = self.get_workspace()
        return self._paginate(lambda token: endpoints.list_stage_tasks(workspace, job_id, stage_id, token))

    def abort_job(self, job_id: str) -> dict[str, Any]:
        """Abort a job in its processing stage (B6 abort job). ``ConflictError`` means it is already terminal
        (possibly because an earlier attempt whose answer was lost did abort it): confirm with
        ``get_job``. ``BadRequestError`` means it has reached a stage that cannot be aborted."""
        return self._transport.execute(endpoints.abort_job(self.get_workspace(), job_id))

    def restart_job(self, job_id: str, overrides: RestartOverrides | None = None) -> dict[str, Any]:
        """Restart a failed or aborted job (B7 restart job); not repeated after ambiguous failures."""
        return self._transport.execute(endpoints.restart_job(self.get_workspace(), job_id, overrides))

    def iter_job_logs(self, job_id: str, severity: str | None = None) -> Iterator[JobLog]:
        workspace = self.get_workspace()
        return self._paginate(lambda token: endpoints.list_job_logs(workspace, job_id, severity, token))

    # Signed URLs -----------------------------------------------------------------------------------

    def upload_file(self, details: SignedURLDetails, path: str | os.PathLike[str]) -> int:
        """Stream the file at ``path`` to a signed upload URL (from D8 video upload or D9 bulk image upload);
        returns bytes sent."""
        return transfers.upload_file(
            self._transport.http, details, path, timeout=self.timeout, policy=self.retry_policy
        )

    def download_file(self, url: str, dest_path: str | os.PathLike[str]) -> int:
        """Stream a signed download URL (the ``download_url`` of D5 list files) into ``dest_path``; returns
        bytes."""
        return transfers.download_file(
            self._transport.http, url, dest_path, timeout=self.timeout, policy=self.retry_policy
        )


class AsyncRoboflowClient(_ClientBase):
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
            policy=_policy(max_retries, retry_policy),
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

    async def _paginate(self, make_spec: PageSpec[ItemT]) -> AsyncIterator[ItemT]:
        token: str | None = None
        seen: set[str] = set()
        while True:
            spec = make_spec(token)
            page = await self._transport.execute(spec)
            for item in page.items:
                yield item
            token = _next_token(spec.operation, page.next_page_token, seen)
            if token is None:
                return

    # Workspace -------------------------------------------------------------------------------------

    async def lookup_workspace(self) -> str:
        self._workspace = await self._transport.execute(endpoints.workspace_lookup())
        return self._workspace

    async def get_workspace(self) -> str:
        return self._workspace or await self.lookup_workspace()

    # Data Staging ----------------------------------------------------------------------------------

    async def iter_batches(self, page_size: int | None = None) -> AsyncIterator[BatchMetadata]:
        workspace = await self.get_workspace()
        async for item in self._paginate(lambda token: endpoints.list_batches(workspace, page_size, token)):
            yield item

    async def get_batch(self, batch_id: str) -> BatchMetadata:
        return await self._transport.execute(endpoints.get_batch(await self.get_workspace(), batch_id))

    async def count_batch(self, batch_id: str, part_name: str | None = None) -> int:
        spec = endpoints.count_batch(await self.get_workspace(), batch_id, part_name)
        return await self._transport.execute(spec)

    async def list_batch_parts(self, batch_id: str) -> list[BatchPart]:
        return await self._transport.execute(endpoints.list_batch_parts(await self.get_workspace(), batch_id))

    async def iter_batch_files(
        self, batch_id: str, part_name: str | None = None, page_size: int | None = None
    ) -> AsyncIterator[FileMetadata]:
        workspace = await self.get_workspace()
        async for item in self._paginate(
            lambda token: endpoints.list_batch_files(workspace, batch_id, part_name, page_size, token)
        ):
            yield item

    async def iter_shards(self, batch_id: str, page_size: int | None = None) -> AsyncIterator[ShardDetails]:
        workspace = await self.get_workspace()
        async for item in self._paginate(
            lambda token: endpoints.list_shards(workspace, batch_id, page_size, token)
        ):
            yield item

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

    async def iter_jobs(self, page_size: int | None = None) -> AsyncIterator[JobMetadata]:
        workspace = await self.get_workspace()
        async for item in self._paginate(lambda token: endpoints.list_jobs(workspace, page_size, token)):
            yield item

    async def get_job(self, job_id: str) -> JobMetadata:
        return await self._transport.execute(endpoints.get_job(await self.get_workspace(), job_id))

    async def create_job(self, job_id: str, body: Mapping[str, Any], name: str | None = None) -> None:
        await self._transport.execute(endpoints.create_job(await self.get_workspace(), job_id, body, name))

    async def list_job_stages(self, job_id: str) -> list[JobStage]:
        return await self._transport.execute(endpoints.list_job_stages(await self.get_workspace(), job_id))

    async def iter_stage_tasks(self, job_id: str, stage_id: str) -> AsyncIterator[TaskStatus]:
        workspace = await self.get_workspace()
        async for item in self._paginate(
            lambda token: endpoints.list_stage_tasks(workspace, job_id, stage_id, token)
        ):
            yield item

    async def abort_job(self, job_id: str) -> dict[str, Any]:
        return await self._transport.execute(endpoints.abort_job(await self.get_workspace(), job_id))

    async def restart_job(self, job_id: str, overrides: RestartOverrides | None = None) -> dict[str, Any]:
        spec = endpoints.restart_job(await self.get_workspace(), job_id, overrides)
        return await self._transport.execute(spec)

    async def iter_job_logs(self, job_id: str, severity: str | None = None) -> AsyncIterator[JobLog]:
        workspace = await self.get_workspace()
        async for item in self._paginate(
            lambda token: endpoints.list_job_logs(workspace, job_id, severity, token)
        ):
            yield item
