"""Moving file bytes to and from signed URLs, streamed, with time-outs and retries.

Uploads PUT the file in chunks with an explicit ``Content-Length`` (signed PUT URLs reject chunked
transfer encoding) and the extension headers the server asked for, and no ``Content-Type``.
Downloads stream into a hidden temporary file beside the destination and rename it into place, so
a reader never sees a partial file. A PUT to the same signed URL overwrites the same object and a
GET changes nothing, so both are repeated after any retryable failure. The API key is never sent
to a signed URL, and the URL itself never appears in errors or logs. Only the sync client moves
files: workers upload and download; the triggerer only polls.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from tenacity import Retrying

from include.roboflow_batch.api.downloads import CHUNK_SIZE
from include.roboflow_batch.api.errors import RoboflowAPIError
from include.roboflow_batch.api.models import SignedURLDetails
from include.roboflow_batch.api.request_spec import Retry
from include.roboflow_batch.api.retries import RetryPolicy, retry_arguments
from include.roboflow_batch.api.transport import error_from_exception, error_from_response, make_timeout

_SIGNED_URL_HINT = "the signed URL may have expired"


def _check_signed_url(url: str) -> None:
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ValueError("a signed URL must be an http(s) URL")


def _upload_headers(details: SignedURLDetails, size: int) -> dict[str, str]:
    return {**details.extension_headers, "Content-Length": str(size)}


def _temporary_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:12]}.part")


def _source_file(path: str | os.PathLike[str]) -> Path:
    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"file to upload not found: {source}")
    return source


def _read_chunks(source: Path) -> Iterator[bytes]:
    with source.open("rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk


def upload_file(
    http: httpx.Client,
    details: SignedURLDetails,
    path: str | os.PathLike[str],
    *,
    timeout: float,
    policy: RetryPolicy,
) -> int:
    """PUT the file at ``path`` to ``details.upload_url``; returns the number of bytes sent."""
    _check_signed_url(details.upload_url)
    source = _source_file(path)
    operation = f"upload of {source.name!r} to a signed URL"

    def attempt() -> int:
        size = source.stat().st_size
        failure: RoboflowAPIError | None = None
        try:
            response = http.put(
                details.upload_url,
                content=_read_chunks(source),
                headers=_upload_headers(details, size),
                timeout=make_timeout(timeout),
            )
        except httpx.HTTPError as error:
            failure = error_from_exception(operation, error)
        if failure is not None:
            raise failure
        if response.status_code >= 400:
            raise error_from_response(operation, response, hint=_SIGNED_URL_HINT)
        return size

    return Retrying(**retry_arguments(Retry.SAFE, policy))(attempt)


def download_file(
    http: httpx.Client, url: str, dest_path: str | os.PathLike[str], *, timeout: float, policy: RetryPolicy
) -> int:
    """GET ``url`` into ``dest_path`` (atomically); returns the number of bytes written."""
    _check_signed_url(url)
    dest = Path(dest_path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    operation = f"download of {dest.name!r} from a signed URL"

    def attempt() -> int:
        temporary = _temporary_path(dest)
        failure: RoboflowAPIError | None = None
        written = 0
        try:
            with http.stream("GET", url, timeout=make_timeout(timeout)) as response:
                if response.status_code >= 400:
                    response.read()
                    failure = error_from_response(operation, response, hint=_SIGNED_URL_HINT)
                else:
                    with temporary.open("wb") as handle:
                        for chunk in response.iter_bytes(CHUNK_SIZE):
                            handle.write(chunk)
                            written += len(chunk)
                    os.replace(temporary, dest)
        except httpx.HTTPError as error:
            failure = error_from_exception(operation, error)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        if failure is not None:
            raise failure
        return written

    return Retrying(**retry_arguments(Retry.SAFE, policy))(attempt)
