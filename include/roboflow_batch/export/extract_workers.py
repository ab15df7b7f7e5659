"""Archive extraction in worker processes, so that tar parsing, hashing and row counting use every core.

Parsing a tar stream member by member and writing one atomic file per member is CPU work that holds
the GIL; download threads hand each (small) archive's bytes to a pool of processes that write into
the same local folder. The processes are spawned (not forked: the exporting process runs threads)
and import nothing from Airflow.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from include.roboflow_batch.export.local_folder import LocalFolder
from include.roboflow_batch.export.transfer import SourceFile, SourceResult, SourceTransfer

_worker: list[SourceTransfer] = []


def _start_worker(root: str, name_field: str | None) -> None:
    _worker.append(SourceTransfer(LocalFolder(root), None, name_field))


def _extract(source: SourceFile, body: bytes) -> SourceResult:
    return _worker[0]._consume(source, iter((body,)))


class ArchiveExtractors:
    """``extract(source, body)`` writes an archive's members under ``root`` in a worker process."""

    def __init__(self, root: str, name_field: str | None, workers: int | None = None) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=workers or os.cpu_count() or 1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(root, name_field),
        )

    def __enter__(self) -> ArchiveExtractors:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def extract(self, source: SourceFile, body: bytes) -> SourceResult:
        return self._pool.submit(_extract, source, body).result()
