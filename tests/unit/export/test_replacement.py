"""One answer per destination: a new attempt's results replace the earlier answer, and a reader
following ``manifest.json`` never sees two attempts' files, whichever step a crash interrupts.

Run on a local folder and on an in-memory object store (no rename there: copies and deletes), with a
crash injected before every write, move, copy and delete of the switch in turn.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from include.roboflow_batch.export.destination import MANIFEST_FILE, Destination
from include.roboflow_batch.export.replacement import (
    export_mode,
    finish_switch,
    staging_folder,
    switch_to,
    with_history,
)


@pytest.fixture(params=["file", "memory"])
def root(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "file":
        yield (tmp_path / "window").as_uri()
        return
    from airflow.sdk.io import fs as airflow_fs
    from fsspec.implementations.memory import MemoryFileSystem

    memory = MemoryFileSystem()
    registry = airflow_fs._register_filesystems()
    registry["memory"] = lambda _conn, _options=None: memory  # type: ignore[index]
    try:
        yield "memory://bucket/window"
    finally:
        memory.store.clear()
        memory.pseudo_dirs.clear()
        del registry["memory"]  # type: ignore[attr-defined]


class Crash(Exception):
    pass


class CrashingDestination(Destination):
    """Fails before its ``crash_at``-th change (a write, move, copy or delete)."""

    def __init__(self, uri: str, crash_at: int | None) -> None:
        super().__init__(uri)
        self.crash_at = crash_at
        self.changes = 0

    def _change(self) -> None:
        if self.crash_at is not None and self.changes == self.crash_at:
            raise Crash
        self.changes += 1

    def put_text(self, relpath: str, text: str) -> None:
        self._change()
        super().put_text(relpath, text)

    def move(self, source: str, target: str) -> None:
        self._change()
        super().move(source, target)

    def place_copy(self, source: str, target: str) -> None:
        self._change()
        super().place_copy(source, target)

    def remove(self, relpath: str) -> None:
        self._change()
        super().remove(relpath)


def entry(path: str, body: bytes) -> dict[str, Any]:
    return {"path": path, "size": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def write_answer(dest: Destination, job_id: str, files: dict[str, bytes], folder: str = "") -> dict[str, Any]:
    """An export's files (under ``folder``) and the manifest describing them, paths relative to folder."""
    for path, body in files.items():
        dest.put_text(f"{folder}{path}", body.decode())
    return {
        "job_id": job_id,
        "attempt": 1 if job_id == "job-a" else 2,
        "files": [entry(path, body) for path, body in files.items() if not path.startswith("_progress/")],
        "results": {"rows": len(files)},
    }


OLD = {
    "results/part-0.jsonl": b'{"a":1}\n',
    "results/part-1.jsonl": b'{"a":2}\n',
    "_progress/x.jsonl": b"{}\n",
}
NEW = {"results/part-0.jsonl": b'{"b":1}\n', "_progress/y.jsonl": b"{}\n"}


def reader_sees(dest: Destination) -> tuple[str, set[str]]:
    """What a reader following the manifest finds: its job, after checking every listed file's bytes."""
    manifest = json.loads(dest.read_text(MANIFEST_FILE) or "{}")
    for listed in manifest["files"]:
        body = (dest.read_text(listed["path"]) or "").encode()
        assert hashlib.sha256(body).hexdigest() == listed["sha256"], listed["path"]
    return manifest["job_id"], {listed["path"] for listed in manifest["files"]}


def prepared(root: str, crash_at: int | None) -> tuple[CrashingDestination, dict[str, Any], str]:
    setup = Destination(root)
    setup.remove_folder("")
    old = write_answer(setup, "job-a", OLD)
    old_text = json.dumps(old)
    setup.put_text(MANIFEST_FILE, old_text)
    new = write_answer(setup, "job-b", NEW, folder=f"{staging_folder('job-b')}/")
    dest = CrashingDestination(root, crash_at)
    return dest, new, old_text


def test_a_switch_interrupted_anywhere_shows_one_answer_and_finishes_on_the_next_run(root: str) -> None:
    crash_at = 0
    while True:
        dest, new, old_text = prepared(root, crash_at)
        try:
            switch_to(dest, new, old_text, json.loads(old_text), "job-b")
        except Crash:
            job, _paths = reader_sees(dest)  # consistent, whichever job it names
            current = json.loads(dest.read_text(MANIFEST_FILE) or "{}")
            resumed = Destination(root)
            if job == "job-a":
                # Nothing switched yet: the next run stages and switches again.
                assert "switch" not in current
                final = switch_to(resumed, new, old_text, json.loads(old_text), "job-b")
            elif "switch" in current:
                assert current["switch"]["state"] in ("moving-aside", "promoting")
                final = finish_switch(resumed, current)
            else:
                # Switched; only the staging folder was left to remove (the export's in-place re-run does).
                resumed.remove_folder(staging_folder("job-b"))
                final = current
            crash_at += 1
        else:
            final = json.loads(dest.read_text(MANIFEST_FILE) or "{}")
            crash_at = -1
        check_final(Destination(root), final)
        if crash_at < 0:
            break
    assert crash_at == -1


def check_final(dest: Destination, final: dict[str, Any]) -> None:
    job, paths = reader_sees(dest)
    assert (job, paths) == ("job-b", {"results/part-0.jsonl"})
    assert "switch" not in final
    assert final["replaces"]["job_id"] == "job-a"
    assert final["replaces"]["moved_to"] == "_attempts/1/"
    everything = set(dest.files_under())
    top = {path for path in everything if not path.startswith("_attempts/")}
    # Only the new answer (and its progress records) outside _attempts/: no file of job-a.
    assert top == {MANIFEST_FILE, "results/part-0.jsonl", "_progress/y.jsonl"}
    assert dest.read_text("results/part-0.jsonl") == '{"b":1}\n'
    # The earlier answer is kept whole, with its manifest, and the staging folder is gone.
    assert {path for path in everything if path.startswith("_attempts/1/")} == {
        "_attempts/1/manifest.json",
        "_attempts/1/results/part-0.jsonl",
        "_attempts/1/results/part-1.jsonl",
        "_attempts/1/_progress/x.jsonl",
    }
    assert dest.read_text("_attempts/1/results/part-0.jsonl") == '{"a":1}\n'
    assert not any(path.startswith(staging_folder("job-b")) for path in everything)


def test_a_third_answer_moves_the_second_aside_and_keeps_the_whole_history(root: str) -> None:
    dest, new, old_text = prepared(root, None)
    second = switch_to(dest, new, old_text, json.loads(old_text), "job-b")
    third = write_answer(dest, "job-c", {"results/part-0.jsonl": b'{"c":1}\n'}, f"{staging_folder('job-c')}/")
    final = switch_to(dest, third, json.dumps(second), second, "job-c")
    assert [(e["job_id"], e["moved_to"]) for e in final["replaced"]] == [
        ("job-a", "_attempts/1/"),
        ("job-b", "_attempts/2/"),
    ]
    assert reader_sees(dest) == ("job-c", {"results/part-0.jsonl"})
    assert dest.read_text("_attempts/2/results/part-0.jsonl") == '{"b":1}\n'


def test_leftovers_of_an_unfinished_export_are_moved_aside_too(root: str) -> None:
    dest = Destination(root)
    dest.put_text("results/part-7.jsonl", "stray\n")
    new = write_answer(dest, "job-b", NEW, folder=f"{staging_folder('job-b')}/")
    final = switch_to(dest, new, None, None, "job-b")
    assert final["replaces"]["unfinished"] is True
    assert dest.read_text("_attempts/1/results/part-7.jsonl") == "stray\n"
    assert dest.read_text("results/part-7.jsonl") is None


@pytest.mark.parametrize(
    ("manifest", "present", "own", "mode"),
    [
        (None, {}, False, "in_place"),
        (None, {"_attempts/1/manifest.json": 3}, False, "in_place"),
        (None, {"results/a.jsonl": 3, "_progress/p.jsonl": 9}, True, "in_place"),
        (None, {"results/a.jsonl": 3}, False, "replace"),
        ({"job_id": "job-b"}, {}, False, "in_place"),
        ({"job_id": "job-a"}, {}, False, "replace"),
        ({"job_id": "job-b", "switch": {"state": "promoting"}}, {}, False, "finish_switch"),
    ],
)
def test_how_an_export_writes_into_a_destination(
    manifest: dict[str, Any] | None, present: dict[str, int], own: bool, mode: str
) -> None:
    assert export_mode(manifest, "job-b", present, own) == mode


def test_the_same_answer_written_again_keeps_its_history() -> None:
    old = {"job_id": "job-b", "replaces": {"job_id": "job-a"}, "replaced": [{"job_id": "job-a"}]}
    again = with_history({"job_id": "job-b"}, old, None)
    assert again["replaces"] == {"job_id": "job-a"}
    assert again["replaced"] == [{"job_id": "job-a"}]
