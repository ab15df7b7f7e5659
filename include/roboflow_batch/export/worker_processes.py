"""Transferring sources to a local destination in worker processes (the export's ``transfer_processes``).

Exporting many small files is CPU work in Python: the HTTP exchange of every signed-URL download,
and for archives the decompression, tar parsing and hashing. Under the GIL one process uses one
core, however many download threads it runs. For a local destination, worker processes each
download and write sources with their own threads and connections, into the same folder, and send
back each source's file records (path, size, sha256, result rows). The exporting process hands out
sources as the workers finish them, so a slow worker gets fewer, and transfers sources itself while
a worker is still starting (a fraction of a second that would otherwise be idle); it keeps the
progress log and writes the manifest. Object stores are written over the network: their uploads set
the pace, and they stay with the exporting process's threads.

The workers are fresh interpreters running this module (``python -m``), not ``multiprocessing``
children: a spawned child re-imports the parent's main module, which in an Airflow worker is the
Airflow command line, seconds of CPU per process. Requests and replies are pickles on the workers'
stdin/stdout, between this process and the children it started. A worker that cannot start or dies
leaves its sources to the exporting process: slower, never lost. A worker whose input closes (the
export failed, was stopped, or its process was killed) finishes the sources it holds and exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import select
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from include.roboflow_batch.api.downloads import SignedUrlDownloads
from include.roboflow_batch.api.retries import RetryPolicy
from include.roboflow_batch.cores import usable_cores
from include.roboflow_batch.export.local_folder import LocalFolder
from include.roboflow_batch.export.results import SourceResult
from include.roboflow_batch.export.source_transfer import SourceFile, SourceTransfer
from include.roboflow_batch.parallel import ItemFailedError, run_threads

log = logging.getLogger(__name__)
T = TypeVar("T")
# The folder holding the ``include`` package, put on the workers' import path.
_PROJECT_ROOT = str(Path(__file__).resolve().parents[3])
_STOP_WAIT = 30.0
#: Below this many sources, starting interpreters costs more than a second core saves.
MIN_SOURCES_FOR_WORKERS = 64

Request = tuple[int, SourceFile]
Reply = tuple[int, bool, Any]  # (index, succeeded, SourceResult or the exception)


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker needs to transfer sources as the exporting process would."""

    root: str
    threads: int
    timeout: float
    policy: RetryPolicy
    name_field: str | None


def worker_count(processes: int | None, local: bool, sources: int) -> int:
    """How many worker processes to start: ``processes`` None means one per usable core when it pays off."""
    if not local or processes == 0:
        return 0
    if processes is None:
        cores = usable_cores()
        return cores if cores > 1 and sources >= MIN_SOURCES_FOR_WORKERS else 0
    return min(processes, sources)


# -- the worker ----------------------------------------------------------------------------------


@dataclass
class _SignedUrls:
    """The one thing a transfer needs of a Roboflow client: streaming a signed URL."""

    downloads: SignedUrlDownloads

    def stream_download(self, url: str, consume: Callable[[Iterator[bytes]], T]) -> T:
        return self.downloads.stream(url, consume)


def _travelling(exc: Exception) -> Exception:
    """``exc`` if it survives pickling whole, else a plain error with its message."""
    try:
        pickle.loads(pickle.dumps(exc, pickle.HIGHEST_PROTOCOL))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    """The worker: settings first, then lists of sources to transfer, until the parent closes the pipe.

    Replies are written by one thread, each holding every source finished since the last write.
    """
    settings: WorkerSettings = pickle.load(requests)
    client = _SignedUrls(SignedUrlDownloads(settings.timeout, settings.policy, settings.threads))
    transfer = SourceTransfer(LocalFolder(settings.root), settings.name_field)
    todo: queue.SimpleQueue[Request | None] = queue.SimpleQueue()
    done: queue.SimpleQueue[Reply | None] = queue.SimpleQueue()

    def work() -> None:
        while (request := todo.get()) is not None:
            index, source = request
            try:
                done.put((index, True, transfer(client, source)))
            except Exception as exc:
                done.put((index, False, _travelling(exc)))
        todo.put(None)  # the next thread stops too

    def write() -> None:
        while (first := done.get()) is not None:
            batch = [first]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 256:
                    reply = done.get_nowait()
                    if reply is None:
                        done.put(None)
                        break
                    batch.append(reply)
            replies.write(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
            replies.flush()

    workers = [threading.Thread(target=work, daemon=True) for _ in range(settings.threads)]
    writer = threading.Thread(target=write, daemon=True)
    for thread in [*workers, writer]:
        thread.start()
    replies.write(pickle.dumps([], pickle.HIGHEST_PROTOCOL))  # ready
    replies.flush()
    try:
        while True:
            try:
                batch: list[Request] = pickle.load(requests)
            except EOFError:
                break
            for request in batch:
                todo.put(request)
    finally:
        todo.put(None)
        for thread in workers:
            thread.join()
        done.put(None)
        writer.join()


# -- the exporting process ---------------------------------------------------------------------------


class _Worker:
    def __init__(self, settings: WorkerSettings) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PROJECT_ROOT, env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(  # this interpreter, this module
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self.send(settings)

    def send(self, message: object) -> None:
        assert self.process.stdin is not None
        pickle.dump(message, self.process.stdin, pickle.HIGHEST_PROTOCOL)
        self.process.stdin.flush()

    def receive(self) -> list[Reply]:
        assert self.process.stdout is not None
        replies: list[Reply] = pickle.load(self.process.stdout)  # from our own child
        return replies

    def has_spoken(self) -> bool:
        """Whether the worker wrote something (its first message says it is ready) or ended."""
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], 0)
        return bool(readable)

    def close_input(self) -> None:
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()

    def stop(self) -> None:
        self.close_input()
        try:
            self.process.wait(_STOP_WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class TransferWorkers:
    """Runs ``transfer(source)`` for many sources in worker processes; see the module's docstring.

    ``fallback`` transfers a source in this process (a worker that cannot start or died);
    ``on_result`` is told of every transferred source, from several threads.
    """

    def __init__(
        self,
        settings: WorkerSettings,
        processes: int,
        fallback: Callable[[SourceFile], SourceResult],
        on_result: Callable[[SourceFile, SourceResult], None],
    ) -> None:
        if processes < 1:
            raise ValueError(f"processes must be a positive number, got {processes!r}")
        self._settings = settings
        self._processes = processes
        self._fallback = fallback
        self._on_result = on_result
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._source: Iterator[tuple[int, SourceFile]] = iter(())
        self._outcomes: list[SourceResult] = []
        self._failures: list[ItemFailedError[SourceFile]] = []

    def run(self, sources: Sequence[SourceFile]) -> list[SourceResult]:
        """Every source transferred; results in completion order. The first failure stops handing
        out sources and is raised (as :class:`ItemFailedError` naming the source) once the sources
        in flight are done."""
        self._source = enumerate(sources)
        workers = [self._start() for _ in range(self._processes)]
        drivers = [
            threading.Thread(target=self._drive, args=(worker,), name=f"roboflow-export-{n}", daemon=True)
            for n, worker in enumerate(workers)
        ]
        try:
            run_threads(drivers, self._stop)
        finally:
            for worker in workers:
                if worker is not None:
                    worker.stop()
        if self._failures:
            raise self._failures[0]
        return self._outcomes

    def _start(self) -> _Worker | None:
        try:
            return _Worker(self._settings)
        except OSError as exc:
            log.warning("Cannot start an export worker process (%s); transferring in this process.", exc)
            return None

    def _take(self, count: int) -> list[tuple[int, SourceFile]]:
        with self._lock:
            if self._stop.is_set():
                return []
            return [item for _, item in zip(range(count), self._source, strict=False)]

    def _finished(self, source: SourceFile, succeeded: bool, value: Any) -> None:
        if succeeded:
            self._on_result(source, value)
            with self._lock:
                self._outcomes.append(value)
            return
        failure: ItemFailedError[SourceFile] = ItemFailedError(source)
        failure.__cause__ = value
        with self._lock:
            self._failures.append(failure)
        self._stop.set()

    def _drive(self, worker: _Worker | None) -> None:
        """Keep one worker busy: as many sources in flight as it has threads, and a few waiting."""
        in_flight: dict[int, SourceFile] = {}
        try:
            if worker is not None:
                self._transfer_here_until_ready(worker)
                self._feed(worker, in_flight)
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            log.warning("An export worker process stopped (%s); transferring in this process.", exc)
        # No worker (any more): what it held and whatever is left is transferred here.
        leftovers = list(in_flight.values())
        while not self._stop.is_set() and (leftovers or (leftovers := [s for _, s in self._take(1)])):
            self._transfer_here(leftovers.pop())

    def _transfer_here(self, source: SourceFile) -> None:
        try:
            result = self._fallback(source)
        except Exception as exc:
            self._finished(source, False, exc)
        else:
            self._finished(source, True, result)

    def _transfer_here_until_ready(self, worker: _Worker) -> None:
        while not worker.has_spoken():
            taken = self._take(1)
            if not taken:
                break
            self._transfer_here(taken[0][1])
        if worker.receive():  # its ready message (EOFError when it died starting)
            raise pickle.UnpicklingError("an export worker sent results before it was ready")

    def _feed(self, worker: _Worker, in_flight: dict[int, SourceFile]) -> None:
        def send(count: int) -> None:
            batch = self._take(count)
            if batch:
                in_flight.update(batch)
                worker.send(batch)

        send(2 * self._settings.threads)
        while in_flight:
            replies = worker.receive()
            for index, succeeded, value in replies:
                self._finished(in_flight.pop(index), succeeded, value)
            send(len(replies))
        worker.close_input()


if __name__ == "__main__":
    # Replies get their own copy of stdout; anything printed lands on stderr, not in the replies.
    with os.fdopen(os.dup(sys.stdout.fileno()), "wb") as _replies:
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        serve(sys.stdin.buffer, _replies)
