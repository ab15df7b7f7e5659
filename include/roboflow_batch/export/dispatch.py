"""Transferring every listed source to the destination, recording each completed one.

On threads of this process (object stores, few sources, or ``processes=0``), or for a local folder
in worker processes (see :mod:`include.roboflow_batch.export.worker_processes`). Either way the
first failure stops handing out sources and is raised as :class:`ItemFailedError` naming the source,
and what completed before it is in the progress log, so a re-run does not transfer it again.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from include.roboflow_batch.api.client import RoboflowClient
from include.roboflow_batch.export.destination import Destination
from include.roboflow_batch.export.progress import ProgressLog
from include.roboflow_batch.export.results import SourceResult
from include.roboflow_batch.export.source_transfer import SourceFile, SourceTransfer
from include.roboflow_batch.export.worker_processes import TransferWorkers, WorkerSettings, worker_count
from include.roboflow_batch.parallel import run_parallel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TransferSettings:
    """How sources are transferred: at most ``max_concurrency`` downloads at once; for a local
    destination ``transfer_processes`` worker processes (None: one per core when there are enough
    sources to pay for starting them, 0: none); result rows matched to inputs by the column
    ``name_field`` (None: detected). Checked by ``export.arguments``."""

    max_concurrency: int = 16
    transfer_processes: int | None = None
    name_field: str | None = None


def transfer_sources(
    client: RoboflowClient,
    sources: Sequence[SourceFile],
    dest: Destination,
    settings: TransferSettings,
    *,
    on_done: Callable[[int], None],
) -> list[SourceResult]:
    """Every source transferred as ``settings`` say; results in completion order.

    ``on_done(count)`` follows the progress.
    """
    name_field = settings.name_field
    progress = ProgressLog(dest)
    transfer = SourceTransfer(dest, name_field)
    lock = threading.Lock()
    finished = 0

    def completed(source: SourceFile, result: SourceResult) -> None:
        nonlocal finished
        progress.record(source.key, result.files)
        with lock:
            finished += 1
            on_done(finished)

    def here(source: SourceFile) -> SourceResult:
        result = transfer(client, source)
        completed(source, result)
        return result

    threads = min(settings.max_concurrency, max(1, len(sources)))
    count = worker_count(settings.transfer_processes, dest.local_folder is not None, len(sources))
    try:
        if not count:
            return run_parallel(sources, here, threads, name="roboflow-export")
        assert dest.local_folder is not None
        log.info(
            "Transferring %d source file(s) in %d worker process(es) for this local destination.",
            len(sources),
            count,
        )
        worker_settings = WorkerSettings(
            root=dest.local_folder.root,
            threads=math.ceil(threads / count),
            timeout=client.timeout,
            policy=client.retry_policy,
            name_field=name_field,
        )
        workers = TransferWorkers(
            worker_settings, count, fallback=lambda source: transfer(client, source), on_result=completed
        )
        return workers.run(sources)
    finally:
        progress.flush()  # what completed before a failure is not transferred again
