"""Roboflow Data Staging and Batch Processing clients: ``RoboflowClient`` (sync, for workers) and
``AsyncRoboflowClient`` (for triggers, in ``api.async_client``).

Both expose the same methods, built from the same request specs (``endpoints``); they differ only
in how the bytes travel. List endpoints are exposed as iterators that follow ``nextPageToken``
lazily, one retried request per page.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar, Unpack

import httpx

from include.roboflow_batch.api import endpoints, job_endpoints, signed_url_files
from include.roboflow_batch.api.client_base import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    ClientBase,
    ItemT,
    ReferenceIngest,
    next_page_token,
    retry_policy_of,
)
from include.roboflow_batch.api.downloads import SignedUrlDownloads
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
from include.roboflow_batch.api.transport import SyncTransport

T = TypeVar("T")

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_TIMEOUT",
    "AsyncRoboflowClient",
    "ReferenceIngest",
    "RoboflowClient",
]


class RoboflowClient(ClientBase):
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
            policy=retry_policy_of(max_retries, retry_policy),
            http_client=http_client,
        )
        self._attach(transport, workspace=workspace, key_source=key_source)
        self._transport: SyncTransport = transport
        self._owns_http = http_client is None
        self._downloads: SignedUrlDownloads | None = None
        self._downloads_lock = threading.Lock()

    def __enter__(self) -> RoboflowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._transport.close()
        if self._downloads is not None:
            self._downloads.close()

    def _paginate(self, make_spec: PageSpec[ItemT]) -> Iterator[ItemT]:
        token: str | None = None
        seen: set[str] = set()
        while True:
            spec = make_spec(token)
            page = self._transport.execute(spec)
            yield from page.items
            token = next_page_token(spec.operation, page.next_page_token, seen)
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
        return self._paginate(endpoints.list_batches(workspace, page_size))

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
        return self._paginate(endpoints.list_batch_files(workspace, batch_id, part_name, page_size))

    def iter_shards(self, batch_id: str, page_size: int | None = None) -> Iterator[ShardDetails]:
        workspace = self.get_workspace()
        return self._paginate(endpoints.list_shards(workspace, batch_id, page_size))

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
        return self._paginate(job_endpoints.list_jobs(workspace, page_size))

    def get_job(self, job_id: str) -> JobMetadata:
        return self._transport.execute(job_endpoints.get_job(self.get_workspace(), job_id))

    def create_job(self, job_id: str, body: Mapping[str, Any], name: str | None = None) -> None:
        """Start a job (B3 create job). Repeating it with the same body is a no-op, so it is retried freely;
        ``ConflictError`` means the id already exists with a different definition."""
        self._transport.execute(job_endpoints.create_job(self.get_workspace(), job_id, body, name))

    def list_job_stages(self, job_id: str) -> list[JobStage]:
        return self._transport.execute(job_endpoints.list_job_stages(self.get_workspace(), job_id))

    def iter_stage_tasks(self, job_id: str, stage_id: str) -> Iterator[TaskStatus]:
        workspace = self.get_workspace()
        return self._paginate(job_endpoints.list_stage_tasks(workspace, job_id, stage_id))

    def abort_job(self, job_id: str) -> dict[str, Any]:
        """Abort a job in its processing stage (B6 abort job). ``ConflictError`` means it is already terminal
        (possibly because an earlier attempt whose answer was lost did abort it): confirm with
        ``get_job``. ``BadRequestError`` means it has reached a stage that cannot be aborted."""
        return self._transport.execute(job_endpoints.abort_job(self.get_workspace(), job_id))

    def restart_job(self, job_id: str, overrides: RestartOverrides | None = None) -> dict[str, Any]:
        """Restart a failed or aborted job (B7 restart job); not repeated after ambiguous failures."""
        return self._transport.execute(job_endpoints.restart_job(self.get_workspace(), job_id, overrides))

    def iter_job_logs(self, job_id: str, severity: str | None = None) -> Iterator[JobLog]:
        workspace = self.get_workspace()
        return self._paginate(job_endpoints.list_job_logs(workspace, job_id, severity))

    # Signed URLs -----------------------------------------------------------------------------------

    def upload_file(self, details: SignedURLDetails, path: str | os.PathLike[str]) -> int:
        """Stream the file at ``path`` to a signed upload URL (from D8 video upload or D9 bulk image upload);
        returns bytes sent."""
        return signed_url_files.upload_file(
            self._transport.http, details, path, timeout=self.timeout, policy=self.retry_policy
        )

    def download_file(self, url: str, dest_path: str | os.PathLike[str]) -> int:
        """Stream a signed download URL (the ``download_url`` of D5 list files) into ``dest_path``; returns
        bytes."""
        return signed_url_files.download_file(
            self._transport.http, url, dest_path, timeout=self.timeout, policy=self.retry_policy
        )

    def stream_download(self, url: str, consume: Callable[[Iterator[bytes]], T]) -> T:
        """Stream a signed download URL's body to ``consume`` (retried from the start on failure)."""
        with self._downloads_lock:
            if self._downloads is None:
                self._downloads = SignedUrlDownloads(self.timeout, self.retry_policy)
        return self._downloads.stream(url, consume)


# The async twin lives in its own module; importing it here keeps one place to import both from.
from include.roboflow_batch.api.async_client import AsyncRoboflowClient  # noqa: E402
