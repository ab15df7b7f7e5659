"""Extracting archives for a local destination in worker processes (the export's ``extract_processes``).

Decompression, tar parsing and hashing hold the GIL: download threads run that part on one core.
Their file writes release it, so the kernel's share (most of the cost for small members) already
spreads over the cores, which is why this is not the default. Here the threads hand each archive's
bytes (held in memory, see :mod:`include.roboflow_batch.export.archive_memory`) to worker processes
that write into the same local folder and send back the member records (path, size, sha256, result
rows); the exporting process keeps the progress log and the manifest.

The workers are fresh interpreters running this module (``python -m``), not ``multiprocessing``
children: a spawned child re-imports the parent's main module, which in an Airflow worker is the
Airflow command line, seconds of CPU per process. Requests and replies are pickles on the workers'
stdin/stdout, between this process and the children it started. A worker that dies leaves its
archives to the calling threads: slower, never lost.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from include.roboflow_batch.export.archive_extraction import extract_in_memory
from include.roboflow_batch.export.local_folder import LocalFolder
from include.roboflow_batch.export.results import SourceResult

log = logging.getLogger(__name__)
# The folder holding the ``include`` package, put on the workers' import path.
_PROJECT_ROOT = str(Path(__file__).resolve().parents[3])
_STOP_WAIT = 10.0


def serve(root: str, requests: IO[bytes], replies: IO[bytes]) -> None:
    """The worker's loop: one reply per request, until the parent closes the pipe."""
    folder = LocalFolder(root)
    while True:
        try:
            folder_name, archive_name, data, name_field = pickle.load(requests)
        except EOFError:
            return
        try:
            result = extract_in_memory(folder, folder_name, archive_name, data, name_field)
            reply: tuple[str, Any] = ("ok", result)
        except Exception as exc:
            reply = ("error", exc)
        try:
            payload = pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # an exception that cannot travel: keep its message
            payload = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {reply[1]}")))
        replies.write(payload)
        replies.flush()


class _Worker:
    def __init__(self, root: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PROJECT_ROOT, env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(  # this interpreter, this module
            [sys.executable, "-m", __name__, root],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def extract(self, request: tuple[str, str, bytes, str | None]) -> tuple[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        pickle.dump(request, self.process.stdin, pickle.HIGHEST_PROTOCOL)
        self.process.stdin.flush()
        reply: tuple[str, Any] = pickle.load(self.process.stdout)  # from our own child
        return reply

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()  # the worker ends at the end of its input
        try:
            self.process.wait(_STOP_WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


class ArchiveWorkers:
    """``extract(...)`` writes an archive's members under the local folder ``root`` in a worker process.

    Safe to call from many threads: each call takes an idle worker (waiting for one if all are busy).
    """

    def __init__(self, root: str, workers: int | None = None) -> None:
        self._root = root
        self._count = workers or os.cpu_count() or 1
        self._started: list[_Worker] = []
        # Idle workers; None stands for a worker that died (its callers extract in their thread).
        self._idle: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        self._here: LocalFolder | None = None

    def __enter__(self) -> ArchiveWorkers:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start every worker now, so that their start-up overlaps the first downloads."""
        if self._started:
            return
        for _ in range(self._count):
            try:
                worker = _Worker(self._root)
            except OSError as exc:
                log.warning("Cannot start an archive extraction worker (%s); using the threads.", exc)
                self._idle.put(None)
                continue
            self._started.append(worker)
            self._idle.put(worker)

    def close(self) -> None:
        for worker in self._started:
            worker.stop()
        self._started = []

    def extract(self, folder: str, archive_name: str, data: bytes, name_field: str | None) -> SourceResult:
        self.start()
        worker = self._idle.get()
        if worker is None:
            self._idle.put(None)
            return self._extract_here(folder, archive_name, data, name_field)
        try:
            status, value = worker.extract((folder, archive_name, data, name_field))
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            log.warning("An archive extraction worker stopped (%s); using the download threads.", exc)
            self._idle.put(None)
            return self._extract_here(folder, archive_name, data, name_field)
        self._idle.put(worker)
        if status == "error":
            raise value
        result: SourceResult = value
        return result

    def _extract_here(
        self, folder: str, archive_name: str, data: bytes, name_field: str | None
    ) -> SourceResult:
        if self._here is None:
            self._here = LocalFolder(self._root)
        return extract_in_memory(self._here, folder, archive_name, data, name_field)


if __name__ == "__main__":
    # Replies get their own copy of stdout; anything printed lands on stderr, not in the replies.
    with os.fdopen(os.dup(sys.stdout.fileno()), "wb") as _replies:
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        serve(sys.argv[1], sys.stdin.buffer, _replies)
