"""Archives extracted in worker processes: the same files and records as in the calling thread, errors
raised in the caller with the archive and member named, and no archive lost when a worker dies."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from include.roboflow_batch.export.archive_extraction import extract_in_memory
from include.roboflow_batch.export.archives import UnsafeArchiveError
from include.roboflow_batch.export.extract_workers import ArchiveWorkers
from include.roboflow_batch.export.local_folder import LocalFolder
from include.roboflow_batch.export.results import UnreadableResultError
from include.roboflow_batch.export.transfer import archive_workers
from tests.unit.export.test_archive_memory import files_under, sample, tar_bytes
from tests.unit.export.test_archives import regular


def test_workers_write_the_same_files_and_records_as_the_calling_thread(tmp_path: Path) -> None:
    here = extract_in_memory(LocalFolder(str(tmp_path / "here")), "out", "s.tar.gz", sample(), None)
    with ArchiveWorkers(str(tmp_path / "workers"), workers=2) as workers:
        there = workers.extract("out", "s.tar.gz", sample(), None)
    assert there.files == here.files
    assert there.counts == here.counts and there.written == here.written == 4
    assert files_under(tmp_path / "workers") == files_under(tmp_path / "here")


def test_hostile_member_is_refused_in_the_caller_and_nothing_is_written(tmp_path: Path) -> None:
    body = tar_bytes(
        [regular("fine.txt"), regular("../escaped.txt")], {"fine.txt": b"ok", "../escaped.txt": b"x"}
    )
    with ArchiveWorkers(str(tmp_path / "out"), workers=1) as workers:
        with pytest.raises(UnsafeArchiveError, match=r"evil\.tar\.gz.*'\.\./escaped\.txt'"):
            workers.extract("b", "evil.tar.gz", body, None)
        with pytest.raises(UnreadableResultError, match=r"rows\.jsonl"):
            workers.extract("b", "bad.tar.gz", tar_bytes([regular("rows.jsonl")], {"rows.jsonl": b"{"}), None)
        # The worker survives a refused archive and extracts the next one.
        assert workers.extract("b", "s.tar.gz", sample(), None).written == 4
    assert not (tmp_path / "escaped.txt").exists()
    assert sorted(files_under(tmp_path / "out")) == [
        "b/images/alias.png",
        "b/images/x.png",
        "b/results/rows.csv",
        "b/results/rows.jsonl",
    ]


def test_archives_of_a_dead_worker_are_extracted_in_the_calling_thread(tmp_path: Path) -> None:
    workers = ArchiveWorkers(str(tmp_path), workers=1)
    workers.start()
    try:
        (worker,) = workers._started
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.wait()
        first = workers.extract("one", "s.tar.gz", sample(), None)
        second = workers.extract("two", "s.tar.gz", sample(), None)
    finally:
        workers.close()
    assert first.written == second.written == 4
    assert len(files_under(tmp_path)) == 8


def test_workers_end_when_closed(tmp_path: Path) -> None:
    workers = ArchiveWorkers(str(tmp_path), workers=2)
    workers.start()
    processes = [w.process for w in workers._started]
    workers.close()
    assert [p.poll() for p in processes] == [0, 0]


def test_worker_processes_only_for_archives_to_a_local_folder(tmp_path: Path) -> None:
    from include.roboflow_batch.export.transfer import SourceFile

    class Local:
        local_folder = LocalFolder(str(tmp_path))

    class Remote:
        local_folder = None

    archive = SourceFile(key="k", file_name="a.tar.gz", download_url="http://127.0.0.1/a", folder="")
    raw = SourceFile(key="r", file_name="r.jsonl", download_url="http://127.0.0.1/r", folder="")
    assert isinstance(archive_workers(Local(), [raw, archive], None), ArchiveWorkers)
    assert archive_workers(Local(), [archive], 0) is None
    assert archive_workers(Local(), [raw], None) is None
    assert archive_workers(Remote(), [archive], None) is None
