"""Signing GCS V4 URLs on every core.

RSA signing in ``cryptography`` holds the GIL, so threads do not help: worker processes (spawned,
never forked from a task that runs threads) each rebuild the signing credentials from the private
key and sign chunks of keys with the storage library's own V4 helper. While the workers start, and
whenever they are all busy, the calling process signs the next chunk itself, so no core waits.
URLs come back in the order of the keys. At most a few chunks are in flight, so memory stays flat.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import quote

CHUNK_SIZE = 256
_worker: dict[str, Any] = {}


class SigningKey:
    """What a worker needs to sign as the service account: picklable, and never logged."""

    def __init__(self, private_key_pem: bytes, email: str, universe_domain: str) -> None:
        self.private_key_pem = private_key_pem
        self.email = email
        self.universe_domain = universe_domain

    def __repr__(self) -> str:
        return f"SigningKey(email={self.email!r})"

    def credentials(self) -> Any:
        from google.auth.crypt import RSASigner
        from google.oauth2 import service_account

        signer = RSASigner.from_string(self.private_key_pem)
        return service_account.Credentials(  # type: ignore[no-untyped-call]
            signer, self.email, "", universe_domain=self.universe_domain
        )


def signing_key_of(credentials: Any) -> SigningKey | None:
    """The private key of service-account credentials that sign locally; None for any other kind."""
    from cryptography.hazmat.primitives import serialization

    key = getattr(getattr(credentials, "signer", None), "_key", None)
    email = getattr(credentials, "signer_email", None) or getattr(credentials, "service_account_email", None)
    if key is None or not hasattr(key, "private_bytes") or not email:
        return None
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SigningKey(pem, email, getattr(credentials, "universe_domain", "googleapis.com"))


def _start_worker(key: SigningKey, bucket: str, expiry_seconds: float, endpoint: str) -> None:
    _worker.update(
        credentials=key.credentials(),
        bucket=bucket,
        expiry=timedelta(seconds=expiry_seconds),
        endpoint=endpoint,
    )
    _worker["universe"] = key.universe_domain


def _ready() -> None:
    """Nothing: submitted once per worker so that all of them are spawned at once."""


def _sign_chunk(keys: list[str]) -> list[str]:
    from google.cloud.storage._signing import generate_signed_url_v4

    state = _worker
    return [
        generate_signed_url_v4(
            state["credentials"],
            resource=f"/{state['bucket']}/{quote(key, safe=b'/~')}",
            expiration=state["expiry"],
            api_access_endpoint=state["endpoint"],
            method="GET",
            universe_domain=state["universe"],
        )
        for key in keys
    ]


def _chunks(keys: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for key in keys:
        chunk.append(key)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class ParallelGCSSigner:
    """``sign_many(keys)`` yields the V4 GET URL of each key, in order, signed on every core."""

    def __init__(
        self, key: SigningKey, bucket: str, expiry: timedelta, endpoint: str, workers: int | None = None
    ) -> None:
        self._args = (key, bucket, expiry.total_seconds(), endpoint)
        self._workers = workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> ParallelGCSSigner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _sign_here(self, chunk: list[str]) -> list[str]:
        if not _worker:
            _start_worker(*self._args)
        return _sign_chunk(chunk)

    def start(self) -> ProcessPoolExecutor:
        """Spawn every worker now (each imports the signing libraries), without waiting for them."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=self._args,
            )
            for _ in range(self._workers):
                self._pool.submit(_ready)  # one process is spawned per submit until all exist
        return self._pool

    def sign_many(self, keys: Iterable[str]) -> Iterator[str]:
        # Not a generator itself: the workers start before the first key is listed, so their
        # start-up overlaps the listing instead of following it.
        return self._signed(self.start(), keys)

    def _signed(self, pool: ProcessPoolExecutor, keys: Iterable[str]) -> Iterator[str]:
        in_flight = 2 * self._workers
        pending: deque[Future[list[str]] | list[str]] = deque()

        def head_ready() -> bool:
            head = pending[0]
            return isinstance(head, list) or head.done()

        for chunk in _chunks(keys, CHUNK_SIZE):
            if len(pending) >= in_flight and not head_ready():
                pending.append(self._sign_here(chunk))  # the workers are busy: use this core too
            else:
                pending.append(pool.submit(_sign_chunk, chunk))
            while pending and (head_ready() or len(pending) > 2 * in_flight):
                head = pending.popleft()
                yield from head if isinstance(head, list) else head.result()
        while pending:
            head = pending.popleft()
            yield from head if isinstance(head, list) else head.result()
