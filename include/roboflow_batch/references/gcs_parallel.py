"""Signing GCS V4 URLs on every core.

RSA signing in ``cryptography`` holds the GIL, so threads do not help: worker processes (spawned,
never forked from a task that runs threads) each load the private key and sign chunks of keys with
the checked V4 template (``gcs_v4``). The calling process keeps to the light work (listing, writing)
and signs only while no worker has started yet. URLs come back in the order of the keys; at most a
few chunks are in flight, so memory stays flat.

A spawned worker normally re-runs the parent's ``__main__`` file first: in an Airflow task process
that is the ``airflow`` console script, which imports all of Airflow (seconds of CPU per worker).
The workers need none of it, so they are started without it (see ``_without_main_script``).
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import types
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager

from include.roboflow_batch.cores import usable_cores
from include.roboflow_batch.references.gcs_v4 import SigningKey, TemplateSigner, V4Template

KEYS_PER_CHUNK = 128
_worker: dict[str, TemplateSigner] = {}
_main_swap = threading.Lock()


def _start_worker(key: SigningKey, template: V4Template) -> None:
    _worker["sign"] = TemplateSigner(key, template)


def _ready() -> None:
    """Nothing: submitted once per worker so that all of them are spawned at once."""


def _sign_chunk(keys: list[str]) -> list[str]:
    sign = _worker["sign"]
    return [sign(key) for key in keys]


def _chunks(keys: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for key in keys:
        chunk.append(key)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextmanager
def _without_main_script() -> Iterator[None]:
    """Spawn children that do not re-run this process's ``__main__`` script.

    ``multiprocessing`` tells a spawned child to re-import the parent's main module; a stand-in
    main without a file gives it nothing to import. The workers' code lives in this package.
    """
    with _main_swap:
        real = sys.modules["__main__"]
        sys.modules["__main__"] = types.ModuleType("__main__")
        try:
            yield
        finally:
            sys.modules["__main__"] = real


class ParallelGCSSigner:
    """``sign_many(keys)`` yields the V4 GET URL of each key, in order, signed on every core."""

    def __init__(self, key: SigningKey, template: V4Template, workers: int | None = None) -> None:
        self._key = key
        self._template = template
        self._workers = workers or usable_cores()
        self._pool: ProcessPoolExecutor | None = None
        self._started: list[Future[None]] = []
        self._local: TemplateSigner | None = None

    def __enter__(self) -> ParallelGCSSigner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _sign_here(self, chunk: list[str]) -> list[str]:
        if self._local is None:
            self._local = TemplateSigner(self._key, self._template)
        return [self._local(key) for key in chunk]

    def start(self) -> ProcessPoolExecutor:
        """Spawn every worker now (each loads the key), without waiting for them."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self._key, self._template),
            )
            with _without_main_script():
                # One process is spawned per submit until all exist.
                self._started = [self._pool.submit(_ready) for _ in range(self._workers)]
        return self._pool

    def _workers_up(self) -> bool:
        return any(started.done() for started in self._started)

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

        for chunk in _chunks(keys, KEYS_PER_CHUNK):
            if len(pending) >= in_flight and not head_ready() and not self._workers_up():
                pending.append(self._sign_here(chunk))  # no worker has started yet: sign here
            else:
                pending.append(pool.submit(_sign_chunk, chunk))
            while pending and (head_ready() or len(pending) > 2 * in_flight):
                head = pending.popleft()
                yield from head if isinstance(head, list) else head.result()
        while pending:
            head = pending.popleft()
            yield from head if isinstance(head, list) else head.result()
