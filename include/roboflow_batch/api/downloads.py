"""Streaming GETs of signed download URLs over kept-alive connections, retried from the first byte.

An export fetches thousands of small files; per request, urllib3 costs a fraction of the CPU httpx
does, and on a two-core worker that CPU is the limit. Connections are pooled per host and reused
across requests and threads. A body that was not read to the end closes its connection instead of
returning it to the pool. The URL (a bearer secret) never appears in an error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import TypeVar
from urllib.parse import urlsplit

import urllib3
from tenacity import Retrying

from include.roboflow_batch.api.errors import RoboflowAPIError, TransportError
from include.roboflow_batch.api.redaction import redact
from include.roboflow_batch.api.request_spec import Retry
from include.roboflow_batch.api.retries import RetryPolicy, retry_arguments
from include.roboflow_batch.api.server_errors import MAX_CONNECT_TIMEOUT, error_for_reply

T = TypeVar("T")
CHUNK_SIZE = 1024 * 1024
_OPERATION = "download from a signed URL"
_HINT = "the signed URL may have expired"


class _RedactSignedURLs(logging.Filter):
    """urllib3 logs each request line at DEBUG, signed query included: log it redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), ()
        return True


_URLLIB3_REQUESTS = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(existing, _RedactSignedURLs) for existing in _URLLIB3_REQUESTS.filters):
    _URLLIB3_REQUESTS.addFilter(_RedactSignedURLs())

_POOLED_HOSTS = 16
# Characters that may stand in a request target as they are; anything else needs percent-encoding.
_NEEDS_ENCODING = re.compile(r"[^A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]")
_NOT_SENT = (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)


def _transport_error(error: urllib3.exceptions.HTTPError, url: str) -> TransportError:
    detail = redact(str(error), (url, urlsplit(url).query)) or type(error).__name__
    kind = "timed out" if isinstance(error, urllib3.exceptions.TimeoutError) else "connection failed"
    return TransportError(
        f"{kind} ({type(error).__name__}: {detail}) ({_HINT})",
        operation=_OPERATION,
        request_sent=not isinstance(error, _NOT_SENT),
    )


class SignedUrlDownloads:
    """One connection pool for signed-URL downloads, safe to share between threads."""

    def __init__(self, timeout: float, policy: RetryPolicy, max_connections: int = 32) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        # One retry controller for every download: tenacity keeps each call's state per thread.
        self._retrying = Retrying(**retry_arguments(Retry.SAFE, policy))
        self._pool = urllib3.PoolManager(
            num_pools=_POOLED_HOSTS,
            maxsize=max_connections,
            retries=False,
            timeout=urllib3.Timeout(connect=min(timeout, MAX_CONNECT_TIMEOUT), read=timeout),
        )
        # The pool manager's own pools by (scheme, host:port): a many-file export skips its URL
        # parsing and key normalisation per request. Bounded like the manager's; a closed pool
        # (after close()) is looked up anew.
        self._host_pools: dict[tuple[str, str], urllib3.HTTPConnectionPool] = {}

    def close(self) -> None:
        self._pool.clear()
        self._host_pools.clear()

    def stream(self, url: str, consume: Callable[[Iterator[bytes]], T]) -> T:
        """GET ``url``, hand its body as it arrives to ``consume``; a retryable failure starts over."""
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise ValueError("a signed URL must be an http(s) URL")
        return self._retrying(self._attempt, url, consume)

    def _open(self, url: str) -> urllib3.BaseHTTPResponse:
        """GET through the URL host's pool, found by a dict look-up; anything unusual goes the long way."""
        parts = urlsplit(url)
        target = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
        pool = self._host_pools.get((parts.scheme, parts.netloc))
        if pool is None or pool.pool is None or _NEEDS_ENCODING.search(target):
            # The pool manager parses (and percent-encodes) the URL; remember the host's pool.
            if len(self._host_pools) >= _POOLED_HOSTS:
                self._host_pools.clear()  # the manager owns the pools: forget, never close, them here
            self._host_pools[(parts.scheme, parts.netloc)] = self._pool.connection_from_url(url)
            return self._pool.request("GET", url, preload_content=False, redirect=False)
        return pool.urlopen("GET", target, preload_content=False, redirect=False)

    def _attempt(self, url: str, consume: Callable[[Iterator[bytes]], T]) -> T:
        try:
            response = self._open(url)
        except urllib3.exceptions.HTTPError as error:
            raise _transport_error(error, url) from None
        finished = False
        try:
            if response.status >= 400:
                raise error_for_reply(
                    _OPERATION,
                    response.status,
                    response.read().decode("utf-8", errors="replace"),
                    reason=response.reason or "",
                    retry_after=response.headers.get("Retry-After"),
                    secrets=(url,),
                    hint=_HINT,
                )
            outcome = consume(response.stream(CHUNK_SIZE))
            response.drain_conn()  # an archive's trailer may be left unread; the connection is reused
            finished = True
            return outcome
        except urllib3.exceptions.HTTPError as error:
            raise _transport_error(error, url) from None
        except RoboflowAPIError:
            raise
        finally:
            if finished:
                response.release_conn()
            else:
                response.close()
