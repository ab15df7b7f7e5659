"""Exporting a raw-file stage (one file per image plus result files): every byte arrives, hashed as it
streamed, a file cut off mid-way never appears under its name, and a re-run completes the rest."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from airflow.sdk.exceptions import AirflowException

from include.roboflow_batch.operators.export import RoboflowExportOperator
from tests.unit.jobs.fakes import (
    FakeJobs,
    FakeStaging,
    Snapshot,
    batch,
    job,
    make_context,
    serve_through_hook,
    stage,
)

T = TypeVar("T")
IMAGES = {f"cam__{n:03d}.png": bytes([n]) * (3000 + 7919 * (n % 4)) for n in range(40)}


def raw_client() -> FakeStaging:
    jobs = FakeJobs()
    client = FakeStaging(jobs)
    definition = {"type": "simple-image-processing-v1", "jobInput": {"batchId": "in-batch"}}
    jobs.script(
        "job-1",
        Snapshot(
            job("job-1", terminal=True, stage="processing", definition=definition),
            [stage("processing", outputs=["job-1-processing"])],
        ),
    )
    client.batches["job-1-processing"] = batch("job-1-processing", batch_type="simple-batch")
    rows = b"".join(json.dumps({"file_name": name}).encode() + b"\n" for name in IMAGES)
    client.add_file("job-1-processing", None, "results.jsonl", rows)
    for name, content in IMAGES.items():
        client.add_file("job-1-processing", None, name, content)
        client.add_file("in-batch", None, name, b"png", "in-s1")
    return client


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> FakeStaging:
    return serve_through_hook(monkeypatch, raw_client(), RoboflowExportOperator)


def export(dest: Path, **kwargs: Any) -> dict[str, Any]:
    operator = RoboflowExportOperator(
        task_id="export",
        job_id="job-1",
        stage="processing",
        destination=f"file://{dest}",
        expected_count=len(IMAGES),
        **kwargs,
    )
    return operator.execute(make_context())


def test_every_raw_file_is_written_whole_with_its_digest_in_the_manifest(
    client: FakeStaging, tmp_path: Path
) -> None:
    summary = export(tmp_path / "out")
    assert (summary["files_written"], summary["result_rows"], summary["reconciled"]) == (41, 40, True)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    by_path = {entry["path"]: entry for entry in manifest["files"]}
    for name, content in IMAGES.items():
        assert (tmp_path / "out" / name).read_bytes() == content
        assert by_path[name] == {
            "path": name,
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
        }
    assert not [p.name for p in (tmp_path / "out").iterdir() if p.name.endswith(".part")]


def test_a_file_cut_off_mid_stream_never_appears_and_a_rerun_completes_it(
    client: FakeStaging, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = next(f for f in client.files[("job-1-processing", None)] if f.file_name == "cam__003.png")
    whole = client.stream_download

    def cut_off(url: str, consume: Callable[[Iterator[bytes]], T]) -> T:
        if url != broken.download_url:
            return whole(url, consume)

        def chunks() -> Iterator[bytes]:
            yield IMAGES["cam__003.png"][:7919]
            raise OSError("connection reset by peer")

        return consume(chunks())

    monkeypatch.setattr(client, "stream_download", cut_off)
    dest = tmp_path / "out"
    with pytest.raises(AirflowException, match=r"cam__003\.png"):
        export(dest, max_concurrency=3)
    assert not (dest / "cam__003.png").exists()
    assert not [p.name for p in dest.iterdir() if p.name.endswith(".part")]
    assert not (dest / "manifest.json").exists()

    monkeypatch.setattr(client, "stream_download", whole)
    done_before = len(client.downloads)
    summary = export(dest, max_concurrency=3)
    assert (dest / "cam__003.png").read_bytes() == IMAGES["cam__003.png"]
    assert summary["reconciled"] is True
    # Only what the failed run had not recorded is fetched again.
    assert summary["files_written"] == len(client.downloads) - done_before < 41
    assert summary["files_written"] + summary["files_skipped"] == 41
