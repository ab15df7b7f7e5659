"""Fetching the signed URLs given in reference ingests: trusted hosts only, bounded size and time.

URLs are fetched concurrently on a shared pool with one keep-alive connection per host and
thread, so ten thousand references on loopback index in seconds.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from include.roboflow_emulator.state import FailedFile


class FetchError(Exception):
    """A URL could not be fetched; `failure` is what the shard reports for it."""

    def __init__(self, failure: FailedFile) -> None:
        super().__init__(failure.reason)
        self.failure = failure


def redact_url(url: str) -> str:
    """The URL without its query string (signatures are secrets)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class ReferenceFetcher:
    def __init__(self, trusted_domains: Iterable[str], timeout: float = 10.0, concurrency: int = 32) -> None:
        self._trusted = tuple(d.lower().strip(".") for d in trusted_domains)
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="fetch")
        self._local = threading.local()

    def is_trusted(self, url: str) -> bool:
        host = (urlsplit(url).hostname or "").lower()
        return any(host == d or host.endswith("." + d) for d in self._trusted)

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        cache: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "conns", {}
        )
        conn = cache.get((scheme, netloc))
        if conn is None:
            factory = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conn = factory(netloc, timeout=self._timeout)
            cache[(scheme, netloc)] = conn
        return conn

    def _drop_connection(self, scheme: str, netloc: str) -> None:
        conn = self._local.__dict__.get("conns", {}).pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    def fetch(self, name: str, url: str, max_bytes: int) -> bytes:
        """The body of `url`, or FetchError describing the per-file failure."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchError(FailedFile(name, "file-not-reachable", f"Not an http(s) URL: {redact_url(url)}"))
        if not self.is_trusted(url):
            raise FetchError(
                FailedFile(name, "unsafe-url-detected", f"Untrusted domain found: {redact_url(url)}")
            )
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        for attempt in (1, 2):  # a kept-alive connection may have been closed by the server
            conn = self._connection(parts.scheme, parts.netloc)
            try:
                conn.request("GET", target)
                response = conn.getresponse()
                body = response.read(max_bytes + 1)
                if response.will_close or len(body) > max_bytes:
                    self._drop_connection(parts.scheme, parts.netloc)
                else:
                    response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self._drop_connection(parts.scheme, parts.netloc)
                if attempt == 2:
                    raise FetchError(self._unreachable(name, url, str(exc))) from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop_connection(parts.scheme, parts.netloc)
                raise FetchError(self._unreachable(name, url, f"{type(exc).__name__}: {exc}")) from exc
        if response.status >= 400:
            raise FetchError(self._unreachable(name, url, f"HTTP {response.status}"))
        if len(body) > max_bytes:
            raise FetchError(FailedFile(name, "file-size-limit-exceeded", ""))
        return body

    @staticmethod
    def _unreachable(name: str, url: str, detail: str) -> FailedFile:
        return FailedFile(name, "file-not-reachable", f"Could not fetch {redact_url(url)}: {detail}")

    def fetch_many(self, references: list[tuple[str, str]], max_bytes: int) -> list[bytes | FetchError]:
        """Fetch (name, url) pairs concurrently; results in the same order."""

        def one(ref: tuple[str, str]) -> bytes | FetchError:
            try:
                return self.fetch(ref[0], ref[1], max_bytes)
            except FetchError as exc:
                return exc

        return list(self._pool.map(one, references))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
