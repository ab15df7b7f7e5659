"""Sources transferred by worker processes for a local folder: the same files and records as the
exporting process's threads, failures raised there with the source named, nothing lost when a worker
dies, and the workers gone when the run ends."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from include.devstack.loopback import serving_bodies
from include.roboflow_batch.api.downloads import SignedUrlDownloads
from include.roboflow_batch.api.errors import NotFoundError
from include.roboflow_batch.api.retries import RetryPolicy
from include.roboflow_batch.export import worker_processes
from include.roboflow_batch.export.archives import UnsafeArchiveError
from include.roboflow_batch.export.local_folder import LocalFolder
from include.roboflow_batch.export.results import SourceResult
from include.roboflow_batch.export.source_transfer import SourceFile, SourceTransfer
from include.roboflow_batch.export.worker_processes import TransferWorkers, WorkerSettings, worker_count
from include.roboflow_batch.parallel import ItemFailedError, run_parallel
from tests.unit.export.test_archive_memory import files_under, sample
from tests.unit.export.test_archives import regular, tar_bytes

pytestmark = pytest.mark.integration

SIGNATURE = "X-Goog-Signature=deadbeef"


@pytest.fixture
def file_server() -> Iterator[tuple[str, dict[str, bytes]]]:
    """Serves ``files[path]`` on a free loopback port (404 for anything else); fill ``files`` freely."""
    files: dict[str, bytes] = {}
    with serving_bodies(files.get) as base:
        yield base, files


def sources(base: str, files: dict[str, bytes], raw: int, archives: int) -> list[SourceFile]:
    listed = []
    for n in range(raw):
        files[f"/raw/{n}.jsonl"] = f'{{"file_name": "img{n}.png", "n": {n}}}\n'.encode()
        listed.append(SourceFile(f"raw/{n}", f"img{n}.jsonl", f"{base}/raw/{n}.jsonl?{SIGNATURE}", "raw"))
    for n in range(archives):
        files[f"/shards/{n}.tar.gz"] = sample()
        url = f"{base}/shards/{n}.tar.gz?{SIGNATURE}"
        listed.append(SourceFile(f"shard/{n}", f"{n}.tar.gz", url, f"shards/{n}"))
    return listed


def settings(root: Path, threads: int = 3) -> WorkerSettings:
    policy = RetryPolicy(max_retries=1, initial_backoff=0.01, max_backoff=0.01, jitter=0)
    return WorkerSettings(root=str(root), threads=threads, timeout=10, policy=policy, name_field=None)


def downloads() -> worker_processes._SignedUrls:
    """What the exporting process downloads with (here without a Roboflow client around it)."""
    policy = settings(Path()).policy
    return worker_processes._SignedUrls(SignedUrlDownloads(10, policy))


@pytest.fixture
def workers_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exporting process waits for its workers instead of transferring while they start, so
    every source goes through a worker."""
    monkeypatch.setattr(worker_processes._Worker, "has_spoken", lambda worker: True)


def run_workers(
    root: Path, listed: list[SourceFile], processes: int = 2
) -> tuple[list[SourceResult], list[str]]:
    transfer = SourceTransfer(LocalFolder(str(root)))
    client = downloads()
    told: list[str] = []
    lock = threading.Lock()

    def on_result(source: SourceFile, result: SourceResult) -> None:
        with lock:
            told.append(source.key)

    workers = TransferWorkers(
        settings(root), processes, fallback=lambda s: transfer(client, s), on_result=on_result
    )
    return workers.run(listed), told


def by_paths(results: list[SourceResult]) -> list[dict[str, Any]]:
    return sorted((entry for result in results for entry in result.files), key=lambda e: e["path"])


def test_workers_write_the_same_files_and_records_as_threads(
    file_server: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    base, files = file_server
    listed = sources(base, files, raw=60, archives=12)
    there, told = run_workers(tmp_path / "workers", listed)
    transfer = SourceTransfer(LocalFolder(str(tmp_path / "threads")))
    client = downloads()
    here = run_parallel(listed, lambda s: transfer(client, s), 4)

    assert sorted(told) == sorted(s.key for s in listed)  # every source reported once
    assert by_paths(there) == by_paths(here)
    assert sum(r.counts.rows for r in there) == sum(r.counts.rows for r in here) == 60 + 12 * 4
    assert files_under(tmp_path / "workers") == files_under(tmp_path / "threads")
    assert len(files_under(tmp_path / "workers")) == 60 + 12 * 4
    assert not list((tmp_path / "workers").rglob("*.part"))


@pytest.mark.usefixtures("workers_first")
def test_hostile_member_fails_the_run_naming_source_and_member(
    file_server: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    base, files = file_server
    listed = sources(base, files, raw=20, archives=0)
    files["/evil.tar.gz"] = tar_bytes([regular("../escaped.txt")], {"../escaped.txt": b"x"})
    evil = SourceFile("evil", "evil.tar.gz", f"{base}/evil.tar.gz?{SIGNATURE}", "out")
    with pytest.raises(ItemFailedError) as failed:
        run_workers(tmp_path / "root", [*listed[:10], evil, *listed[10:]], processes=1)
    assert failed.value.item == evil
    cause = failed.value.__cause__
    assert isinstance(cause, UnsafeArchiveError)
    assert "evil.tar.gz" in str(cause) and "'../escaped.txt'" in str(cause)
    assert not (tmp_path / "escaped.txt").exists()
    assert not [p for p in files_under(tmp_path / "root") if "escaped" in p]


@pytest.mark.usefixtures("workers_first")
def test_a_missing_file_fails_with_the_servers_status_and_no_signature(
    file_server: tuple[str, dict[str, bytes]], tmp_path: Path
) -> None:
    base, _files = file_server
    gone = SourceFile("gone", "gone.jsonl", f"{base}/gone.jsonl?{SIGNATURE}", "raw")
    with pytest.raises(ItemFailedError) as failed:
        run_workers(tmp_path, [gone], processes=1)
    cause = failed.value.__cause__
    assert isinstance(cause, NotFoundError) and cause.status_code == 404
    assert "no such object" in str(cause)
    assert "deadbeef" not in str(cause)


@pytest.mark.usefixtures("workers_first")
def test_sources_of_a_dead_worker_are_transferred_by_the_exporting_process(
    file_server: tuple[str, dict[str, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    base, files = file_server
    listed = sources(base, files, raw=80, archives=4)
    receive = worker_processes._Worker.receive
    killed: list[int] = []
    ready: set[int] = set()

    def receive_then_die(worker: worker_processes._Worker) -> Any:
        pid = worker.process.pid
        if not killed and pid in ready:  # its first answer after "ready": sources are in flight
            killed.append(pid)
            os.kill(pid, signal.SIGKILL)
            worker.process.wait()
        ready.add(pid)
        return receive(worker)

    monkeypatch.setattr(worker_processes._Worker, "receive", receive_then_die)
    results, told = run_workers(tmp_path, listed)
    assert killed
    assert "An export worker process stopped" in caplog.text
    assert sorted(told) == sorted(s.key for s in listed)  # each exactly once
    assert len(results) == len(listed)
    assert len(files_under(tmp_path)) == 80 + 4 * 4


def test_workers_exit_when_the_run_ends(
    file_server: tuple[str, dict[str, bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, files = file_server
    started: list[worker_processes._Worker] = []
    original = worker_processes._Worker.__init__

    def remember(worker: worker_processes._Worker, config: WorkerSettings) -> None:
        original(worker, config)
        started.append(worker)

    monkeypatch.setattr(worker_processes._Worker, "__init__", remember)
    run_workers(tmp_path, sources(base, files, raw=10, archives=1))
    assert len(started) == 2
    assert [worker.process.poll() for worker in started] == [0, 0]


def test_worker_processes_only_for_a_local_folder_with_enough_sources(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker_processes, "usable_cores", lambda: 2)
    many = worker_processes.MIN_SOURCES_FOR_WORKERS
    assert worker_count(None, True, many) == 2
    assert worker_count(None, True, many - 1) == 0  # starting interpreters would cost more
    assert worker_count(None, False, 10_000) == 0  # object stores: uploads set the pace
    assert worker_count(0, True, 10_000) == 0
    assert worker_count(3, True, 10_000) == 3
    assert worker_count(3, True, 2) == 2  # never more workers than sources
    monkeypatch.setattr(worker_processes, "usable_cores", lambda: 1)
    assert worker_count(None, True, 10_000) == 0


def test_the_exporting_process_transfers_while_its_workers_start(
    file_server: tuple[str, dict[str, bytes]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, files = file_server
    listed = sources(base, files, raw=60, archives=6)
    asked: dict[int, int] = {}
    original = worker_processes._Worker.has_spoken

    def slow_to_start(worker: worker_processes._Worker) -> bool:
        asked[worker.process.pid] = asked.get(worker.process.pid, 0) + 1
        return asked[worker.process.pid] > 5 and original(worker)  # 5 sources here first, each

    monkeypatch.setattr(worker_processes._Worker, "has_spoken", slow_to_start)
    here: list[str] = []
    transfer = SourceTransfer(LocalFolder(str(tmp_path)))
    client = downloads()

    def fallback(source: SourceFile) -> SourceResult:
        here.append(source.key)
        return transfer(client, source)

    told: list[str] = []
    workers = TransferWorkers(
        settings(tmp_path), 2, fallback=fallback, on_result=lambda s, r: told.append(s.key)
    )
    results = workers.run(listed)
    assert len(here) >= 10
    assert len(here) < len(listed)  # the workers took the rest once ready
    assert sorted(told) == sorted(s.key for s in listed) and len(results) == len(listed)
    assert len(files_under(tmp_path)) == 60 + 6 * 4
