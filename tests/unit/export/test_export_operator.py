"""RoboflowExportOperator on a local destination: complete, resumable, safe, reconciled - or loudly not."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from include.roboflow_batch.api.errors import TransportError
from include.roboflow_batch.operators.export import RoboflowExportOperator
from tests.unit.jobs.fakes import (
    FakeHook,
    FakeJobs,
    FakeStaging,
    Snapshot,
    batch,
    job,
    make_context,
    record_logs,
    shard,
    stage,
)

INPUTS = ["cams__front__a.jpg", "cams__front__b.jpg", "cams__back__c.jpg", "cams__back__d.jpg"]
FAILED = [
    {"fileName": "cams__back__e.jpg", "type": "file-size-limit-exceeded", "reason": "Max size 20971520B."}
]


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def jsonl(names: list[str]) -> bytes:
    return b"".join(json.dumps({"file_name": n, "brightness": 0.5}).encode() + b"\n" for n in names)


def build_client(
    rows: list[str] | None = None, *, expiry: str = "2026-12-05T12:00:00Z", media: str = "image"
) -> FakeStaging:
    jobs = FakeJobs()
    client = FakeStaging(jobs)
    definition = {"type": f"simple-{media}-processing-v1", "jobInput": {"batchId": "in-batch"}}
    jobs.script(
        "job-1",
        Snapshot(
            job("job-1", terminal=True, stage="export", definition=definition),
            [stage("processing", outputs=["job-1-processing"]), stage("export", outputs=["job-1-export"])],
        ),
    )
    rows = INPUTS if rows is None else rows
    client.batches["job-1-export"] = batch("job-1-export", expiry=expiry)
    client.parts["job-1-export"] = ["results"]
    half = len(rows) // 2
    client.add_file(
        "job-1-export", "results", "shard-1.tar.gz", tar_gz({"s1/results.jsonl": jsonl(rows[:half])}), "s1"
    )
    client.add_file(
        "job-1-export", "results", "shard-2.tar.gz", tar_gz({"s2/results.jsonl": jsonl(rows[half:])}), "s2"
    )
    for name in INPUTS:
        client.add_file("in-batch", None, name, b"jpeg", "in-s1")
    client.shards["in-batch"] = [shard("in-s1", FAILED, count=len(INPUTS))]
    return client


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> FakeStaging:
    fake = build_client()
    monkeypatch.setattr(RoboflowExportOperator, "_hook", lambda self: FakeHook(fake))
    return fake


def export(dest: Path, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("expected_count", 5)
    operator = RoboflowExportOperator(
        task_id="export", job_id="job-1", destination=f"file://{dest}", **kwargs
    )
    return operator.execute(make_context())


def manifest_of(dest: Path) -> dict[str, Any]:
    return json.loads((dest / "manifest.json").read_text())


def test_exports_extracts_and_writes_a_reconciled_manifest(client: FakeStaging, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    summary = export(dest)
    assert summary == {
        "destination": f"file://{dest}",
        "manifest_uri": f"file://{dest}/manifest.json",
        "files_written": 2,
        "files_skipped": 0,
        "result_rows": 4,
        "reconciled": True,
    }
    assert (dest / "results/shard-1/s1/results.jsonl").read_bytes() == jsonl(INPUTS[:2])
    manifest = manifest_of(dest)
    assert manifest["inputs"] == {"expected": 5, "source": "expected_count"}
    assert manifest["ingested"] == {"batch_id": "in-batch", "count": 4}
    assert manifest["failed"]["count"] == 1
    assert manifest["failed"]["files"][0] | {"shard_id": None} == {
        "file_name": "cams__back__e.jpg",
        "type": "file-size-limit-exceeded",
        "reason": "Max size 20971520B.",
        "shard_id": None,
        "source_key": "cams/back/e.jpg",
    }
    assert manifest["results"]["rows"] == 4
    assert {s["name"]: (s["source_key"], s["rows"]) for s in manifest["sources"]} == {
        "cams__front__a.jpg": ("cams/front/a.jpg", 1),
        "cams__front__b.jpg": ("cams/front/b.jpg", 1),
        "cams__back__c.jpg": ("cams/back/c.jpg", 1),
        "cams__back__d.jpg": ("cams/back/d.jpg", 1),
    }
    assert [f["path"] for f in manifest["files"]] == [
        "results/shard-1/s1/results.jsonl",
        "results/shard-2/s2/results.jsonl",
    ]
    import hashlib

    first = manifest["files"][0]
    assert first["sha256"] == hashlib.sha256(jsonl(INPUTS[:2])).hexdigest()
    assert first["size"] == len(jsonl(INPUTS[:2]))
    assert manifest["checks"] == {
        "inputs_match": True,
        "ingested_listed": True,
        "rows_match": True,
        "skipped_listed": None,
    }
    assert manifest["objects"] == {"seen": 5, "processed": 4, "failed": 1, "skipped": 0}
    assert manifest["reconciled"] is True
    # No temporary names left behind.
    assert not [p for p in dest.rglob("*.part")]


def test_second_run_skips_complete_files_without_rewriting_them(client: FakeStaging, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    export(dest)
    written = {p: p.stat().st_mtime_ns for p in dest.rglob("*.jsonl") if p.name == "results.jsonl"}
    downloads = len(client.downloads)
    summary = export(dest)
    assert summary["files_written"] == 0
    assert summary["files_skipped"] == 2
    assert summary["reconciled"] is True
    assert len(client.downloads) == downloads  # nothing fetched again
    assert {p: p.stat().st_mtime_ns for p in written} == written


def test_resume_after_losing_half_rewrites_only_the_missing_half(client: FakeStaging, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    export(dest)
    kept = dest / "results/shard-1/s1/results.jsonl"
    lost = dest / "results/shard-2/s2/results.jsonl"
    kept_mtime = kept.stat().st_mtime_ns
    lost.unlink()
    summary = export(dest)
    assert (summary["files_written"], summary["files_skipped"]) == (1, 1)
    assert kept.stat().st_mtime_ns == kept_mtime
    assert lost.read_bytes() == jsonl(INPUTS[2:])
    assert manifest_of(dest)["reconciled"] is True


def test_interrupted_export_resumes_where_it_stopped(client: FakeStaging, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    second_url = client.files[("job-1-export", "results")][1].download_url
    client.download_error[second_url] = TransportError("connection reset", operation="download")
    with pytest.raises(AirflowException, match=r"shard-2\.tar\.gz"):
        export(dest, max_concurrency=1)
    assert not (dest / "manifest.json").exists()  # an incomplete export never looks finished
    first = dest / "results/shard-1/s1/results.jsonl"
    first_mtime = first.stat().st_mtime_ns
    del client.download_error[second_url]
    summary = export(dest, max_concurrency=1)
    assert (summary["files_written"], summary["files_skipped"]) == (1, 1)
    assert first.stat().st_mtime_ns == first_mtime
    assert summary["reconciled"] is True


def test_download_errors_never_show_signed_urls(client: FakeStaging, tmp_path: Path) -> None:
    url = client.files[("job-1-export", "results")][0].download_url
    client.download_error[url] = OSError(f"could not fetch {url}")
    with pytest.raises(AirflowException) as failure:
        export(tmp_path / "out")
    assert "X-Signature=secret" not in str(failure.value)


def test_missing_result_row_fails_after_writing_the_manifest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = build_client(rows=INPUTS[:3])  # d.jpg has no result
    monkeypatch.setattr(RoboflowExportOperator, "_hook", lambda self: FakeHook(fake))
    dest = tmp_path / "out"
    with pytest.raises(AirflowFailException, match="does not reconcile"):
        export(dest)
    manifest = manifest_of(dest)
    assert manifest["reconciled"] is False
    assert manifest["checks"]["rows_match"] is False
    assert manifest["results"]["files_without_rows"] == ["cams__back__d.jpg"]


def test_mismatch_can_be_a_warning_instead(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = build_client(rows=[*INPUTS, INPUTS[0], "stranger.jpg"])
    monkeypatch.setattr(RoboflowExportOperator, "_hook", lambda self: FakeHook(fake))
    log = record_logs(monkeypatch, RoboflowExportOperator)
    summary = export(tmp_path / "out", on_mismatch="warn")
    assert summary["reconciled"] is False
    manifest = manifest_of(tmp_path / "out")
    assert manifest["results"]["files_with_several_rows"] == ["cams__front__a.jpg"]
    assert manifest["results"]["rows_for_unknown_files"] == ["stranger.jpg"]
    assert any("does not reconcile" in m for m in log.messages("warning"))


def test_input_count_that_does_not_add_up_is_reported(client: FakeStaging, tmp_path: Path) -> None:
    with pytest.raises(AirflowFailException, match="inputs_match"):
        export(tmp_path / "out", expected_count=9)


def test_expected_count_from_the_references_file(client: FakeStaging, tmp_path: Path) -> None:
    references = tmp_path / "refs.jsonl"
    references.write_text(
        "".join(json.dumps({"name": f"n{i}", "url": "https://x?sig=1"}) + "\n" for i in range(5))
    )
    summary = export(tmp_path / "out", expected_count=None, references=f"file://{references}")
    assert summary["reconciled"] is True
    assert manifest_of(tmp_path / "out")["inputs"] == {"expected": 5, "source": "references"}


def test_without_an_expected_count_the_input_check_is_skipped_not_passed(
    client: FakeStaging, tmp_path: Path
) -> None:
    export(tmp_path / "out", expected_count=None)
    manifest = manifest_of(tmp_path / "out")
    assert manifest["checks"]["inputs_match"] is None
    assert manifest["reconciled"] is True


def test_videos_need_at_least_one_row_per_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    frames = [name for name in INPUTS for _ in range(3)]
    fake = build_client(rows=frames, media="video")
    monkeypatch.setattr(RoboflowExportOperator, "_hook", lambda self: FakeHook(fake))
    summary = export(tmp_path / "out")
    assert summary["result_rows"] == 12
    assert summary["reconciled"] is True


def test_unsafe_archive_fails_and_writes_nothing_outside(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = build_client()
    url = fake.files[("job-1-export", "results")][0].download_url
    fake.blobs[url] = tar_gz({"../../escaped.txt": b"pwned"})
    monkeypatch.setattr(RoboflowExportOperator, "_hook", lambda self: FakeHook(fake))
    with pytest.raises(AirflowFailException, match=r"shard-1\.tar\.gz.*'\.\.'"):
        export(tmp_path / "out" / "deep")
    assert not list(tmp_path.rglob("escaped.txt"))


def test_downloads_respect_max_concurrency(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = build_client()
    for i in range(6):
        fake.add_file("job-1-export", "images", f"img-{i}.png", b"png", f"s{i}")
    fake.parts["job-1-export"].append("images")
    fake.download_delay = 0.05
    monkeypatch.setattr(RoboflowExportOperator, "_hook", lambda self: FakeHook(fake))
    summary = export(tmp_path / "out", max_concurrency=2)
    assert summary["files_written"] == 8
    assert fake.peak == 2
    assert (tmp_path / "out/images/img-3.png").read_bytes() == b"png"


def test_same_file_name_in_two_shards_does_not_overwrite(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = build_client()
    fake.add_file("job-1-export", "images", "vis.png", b"one", "sa")
    fake.add_file("job-1-export", "images", "vis.png", b"two", "sb")
    fake.parts["job-1-export"].append("images")
    monkeypatch.setattr(RoboflowExportOperator, "_hook", lambda self: FakeHook(fake))
    export(tmp_path / "out")
    assert (tmp_path / "out/images/sa/vis.png").read_bytes() == b"one"
    assert (tmp_path / "out/images/sb/vis.png").read_bytes() == b"two"


def test_csv_results_are_counted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = build_client()
    csv_rows = "file_name,brightness\n" + "".join(f'{n},"0.5"\n' for n in INPUTS)
    for meta in list(fake.files[("job-1-export", "results")]):
        fake.blobs[meta.download_url] = tar_gz({})
    fake.blobs[fake.files[("job-1-export", "results")][0].download_url] = tar_gz(
        {"results.csv": csv_rows.encode()}
    )
    monkeypatch.setattr(RoboflowExportOperator, "_hook", lambda self: FakeHook(fake))
    summary = export(tmp_path / "out")
    assert summary["result_rows"] == 4
    assert summary["reconciled"] is True


def test_expiring_output_batch_is_warned_about(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from datetime import datetime, timedelta

    soon = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    fake = build_client(expiry=soon)
    monkeypatch.setattr(RoboflowExportOperator, "_hook", lambda self: FakeHook(fake))
    log = record_logs(monkeypatch, RoboflowExportOperator)
    export(tmp_path / "out")
    assert any("job-1-export expires" in m for m in log.messages("warning"))


def test_later_expiry_is_not_warned_about(
    client: FakeStaging, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from datetime import datetime, timedelta

    client.batches["job-1-export"] = batch(
        "job-1-export", expiry=(datetime.now(UTC) + timedelta(days=6)).isoformat()
    )
    log = record_logs(monkeypatch, RoboflowExportOperator)
    export(tmp_path / "out")
    assert not any("expires" in m for m in log.messages("warning"))


def test_expired_results_say_when_they_expired_and_that_a_rerun_stages_again(
    client: FakeStaging, tmp_path: Path
) -> None:
    del client.batches["job-1-export"]  # past Roboflow's 7 days: the service answers 404
    with pytest.raises(AirflowFailException) as raised:
        export(tmp_path / "out")
    message = str(raised.value)
    # The export stage of the fake job started at NOW (2026-11-28T12:00:00Z).
    assert message.startswith("Output batch 'job-1-export' of Roboflow job job-1 no longer exists")
    assert (
        "started at 2026-11-28T12:00:00+00:00, so they expired at about 2026-12-05T12:00:00+00:00" in message
    )
    assert "Re-run this interval from its first task" in message and "staged again" in message
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_expired_input_batch_says_so(
    client: FakeStaging, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from include.roboflow_batch.api.errors import NotFoundError

    def gone(batch_id: str, part_name: str | None = None) -> int:
        raise NotFoundError(f"Batch {batch_id!r} not found", status_code=404)

    monkeypatch.setattr(client, "count_batch", gone)
    with pytest.raises(
        AirflowFailException, match=r"^Input batch 'in-batch' of Roboflow job job-1 no longer"
    ):
        export(tmp_path / "out")


def test_unknown_stage_lists_the_stages(client: FakeStaging, tmp_path: Path) -> None:
    with pytest.raises(AirflowFailException, match=r"no stage 'final' \(stages: export, processing\)"):
        export(tmp_path / "out", stage="final")


def test_unfinished_job_cannot_be_exported(client: FakeStaging, tmp_path: Path) -> None:
    client.jobs.script("job-1", Snapshot(job("job-1")))
    with pytest.raises(AirflowFailException, match="has not finished"):
        export(tmp_path / "out")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"destination": "/no/scheme"}, "destination"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"transfer_processes": -1}, "transfer_processes"),
        ({"transfer_processes": "two"}, "transfer_processes"),
        ({"on_mismatch": "ignore"}, "on_mismatch"),
        ({"expected_count": "many"}, "expected_count"),
        ({"job_id": "Not Valid"}, "job_id"),
    ],
)
def test_bad_arguments_name_the_field(
    client: FakeStaging, tmp_path: Path, kwargs: dict[str, Any], field: str
) -> None:
    kwargs.setdefault("destination", f"file://{tmp_path}/out")
    kwargs.setdefault("job_id", "job-1")
    operator = RoboflowExportOperator(task_id="export", **kwargs)
    with pytest.raises(AirflowFailException, match=field):
        operator.execute(make_context())


def test_file_the_workflow_could_not_process_is_accounted_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from include.roboflow_batch.api.models import JobLog

    fake = build_client(rows=INPUTS[:3])
    fake.jobs.logs["job-1"] = [
        JobLog.model_validate(
            {
                "createdAt": "2026-11-28T12:00:00Z",
                "severity": "warning",
                "reportingModule": "worker",
                "logType": "file-failed",
                "payload": {"message": "Could not decode image", "fileName": "cams__back__d.jpg"},
            }
        )
    ]
    monkeypatch.setattr(RoboflowExportOperator, "_hook", lambda self: FakeHook(fake))
    summary = export(tmp_path / "out")
    assert summary["reconciled"] is True
    manifest = manifest_of(tmp_path / "out")
    assert manifest["processing_failed"]["files"] == [
        {
            "file_name": "cams__back__d.jpg",
            "reason": "Could not decode image",
            "log_type": "file-failed",
            "source_key": "cams/back/d.jpg",
        }
    ]
    assert manifest["results"]["files_without_rows"] == []


@pytest.mark.parametrize(
    ("owner", "named"),
    [
        ({"job_id": "job-0", "ingested": {"batch_id": "in-batch"}}, "job 'job-0'"),  # another job
        ({"job_id": "job-1", "ingested": {"batch_id": "other-window"}}, "'other-window'"),  # another window
        ({"job_id": "job-1"}, "input batch None"),
        ([], "is not an export manifest"),
    ],
)
def test_destination_holding_another_jobs_or_windows_results_is_refused(
    client: FakeStaging, tmp_path: Path, owner: Any, named: str
) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "manifest.json").write_text(json.dumps(owner))
    (dest / "results.jsonl").write_text("theirs\n")

    with pytest.raises(AirflowFailException, match=r"manifest\.json") as caught:
        export(dest)

    assert named in str(caught.value)
    assert client.downloads == []  # refused before anything was fetched or written
    assert (dest / "results.jsonl").read_text() == "theirs\n"
    assert json.loads((dest / "manifest.json").read_text()) == owner


def test_destination_of_the_same_job_and_window_is_resumed(client: FakeStaging, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    export(dest)

    assert export(dest)["reconciled"] is True


def _skipped_list(path: Path, entries: list[dict[str, str]]) -> str:
    path.write_text("".join(json.dumps(entry) + "\n" for entry in entries))
    return path.as_uri()


SKIPPED = [
    {"key": "cams/front/empty.jpg", "reason": "empty-file"},
    {"key": "cams/front/notes.txt", "reason": "unsupported-file-type"},
    {"key": "cams/back/huge.jpg", "reason": "file-size-limit-exceeded"},
]


def test_objects_skipped_while_listing_are_in_the_manifest(client: FakeStaging, tmp_path: Path) -> None:
    listed = _skipped_list(tmp_path / "refs.skipped.jsonl", SKIPPED)

    summary = export(tmp_path / "out", skipped_list=listed, skipped_count=3)

    manifest = manifest_of(tmp_path / "out")
    assert manifest["skipped"] == {"count": 3, "files": SKIPPED}
    assert manifest["objects"] == {"seen": 8, "processed": 4, "failed": 1, "skipped": 3}
    assert manifest["checks"]["skipped_listed"] is True
    assert summary["reconciled"] is True


@pytest.mark.parametrize("written", [SKIPPED[:2], None])
def test_skipped_objects_missing_from_the_list_do_not_reconcile(
    client: FakeStaging, tmp_path: Path, written: list[dict[str, str]] | None
) -> None:
    listed = (
        _skipped_list(tmp_path / "refs.skipped.jsonl", written)
        if written is not None
        else (tmp_path / "gone.jsonl").as_uri()
    )

    with pytest.raises(AirflowFailException, match="does not reconcile"):
        export(tmp_path / "out", skipped_list=listed, skipped_count=3)

    manifest = manifest_of(tmp_path / "out")
    assert manifest["checks"]["skipped_listed"] is False
    assert manifest["reconciled"] is False


def test_no_listing_step_leaves_the_skipped_check_open(client: FakeStaging, tmp_path: Path) -> None:
    export(tmp_path / "out", skipped_list=None, skipped_count=None)

    assert manifest_of(tmp_path / "out")["checks"]["skipped_listed"] is None


@pytest.mark.parametrize(("option", "value"), [("skipped_count", "3"), ("expected_count", "None")])
def test_a_count_given_as_text_is_refused_naming_it(
    client: FakeStaging, tmp_path: Path, option: str, value: str
) -> None:
    # Counts travel as numbers: text would blur a missing count with 0 or "".
    with pytest.raises(AirflowFailException, match=f"{option} must be a whole number or None"):
        export(tmp_path / "out", **{option: value})
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_an_earlier_attempt_of_the_same_interval_is_not_another_job(
    client: FakeStaging, tmp_path: Path
) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "manifest.json").write_text(
        json.dumps({"job_id": "job-1a1", "ingested": {"batch_id": "in-batch"}})
    )
    history = [
        {
            "at": "2026-11-28T10:00:00+00:00",
            "action": "create",
            "job_id": "job-1",
            "attempt": 2,
            "reason": "job job-1a1 failed and its definition changed (workflowId)",
            "seen": [{"job_id": "job-1a1", "attempt": 1, "state": "failed or aborted"}],
        }
    ]

    assert export(dest, job_history=history)["reconciled"] is True
    assert manifest_of(dest)["job_id"] == "job-1"
    assert manifest_of(dest)["job_history"] == history


def test_a_damaged_job_history_is_refused_naming_it(client: FakeStaging, tmp_path: Path) -> None:
    with pytest.raises(AirflowFailException, match=r"job_history: job history entry 0\.action"):
        export(tmp_path / "out", job_history=[{"job_id": "job-1", "attempt": 1}])
    with pytest.raises(AirflowFailException, match="job_history: a job history is a list of events"):
        export(tmp_path / "out", job_history='[{"job_id": "job-1"}]')
    assert not (tmp_path / "out" / "manifest.json").exists()
