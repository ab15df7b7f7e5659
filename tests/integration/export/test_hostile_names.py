"""Names chosen by the server are untrusted: a hostile file, part, archive or member name fails the export
with the offending name, and nothing is written outside the destination, on file://, s3:// and gs://."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.devstack.sample_media import stand_in_s3_client
from include.roboflow_batch.operators.export import RoboflowExportOperator
from tests.unit.export.test_export_operator import INPUTS, build_client, jsonl, tar_gz
from tests.unit.jobs.fakes import FakeHook, FakeStaging, make_context

pytestmark = pytest.mark.integration

RESULT = jsonl(INPUTS)


def raw_file(name: str) -> Callable[[FakeStaging], None]:
    def add(fake: FakeStaging) -> None:
        fake.parts["job-1-export"].append("raw")
        fake.add_file("job-1-export", "raw", name, RESULT, "s9")

    return add


def part(name: str) -> Callable[[FakeStaging], None]:
    def add(fake: FakeStaging) -> None:
        fake.parts["job-1-export"].append(name)
        fake.add_file("job-1-export", name, "escaped.jsonl", RESULT, "s9")

    return add


def member(name: str) -> Callable[[FakeStaging], None]:
    def add(fake: FakeStaging) -> None:
        fake.add_file("job-1-export", "results", "shard-9.tar.gz", tar_gz({name: RESULT}), "s9")

    return add


def shard(name: str) -> Callable[[FakeStaging], None]:
    def add(fake: FakeStaging) -> None:
        fake.add_file("job-1-export", "results", "shard-1.tar.gz", tar_gz({"x/escaped.jsonl": RESULT}), name)

    return add


HOSTILE = {
    "file-dotdot": ("../../escaped.jsonl", raw_file),
    "file-dotdot-inside": ("a/../../../escaped.jsonl", raw_file),
    "file-absolute": ("/tmp/escaped.jsonl", raw_file),
    "file-backslash": ("..\\..\\escaped.jsonl", raw_file),
    "file-empty-segment": ("a//escaped.jsonl", raw_file),
    "file-nul": ("escaped.jsonl\x00.png", raw_file),
    "file-drive": ("C:/escaped.jsonl", raw_file),
    "part-dotdot": ("../../escaped-part", part),
    "part-absolute": ("/escaped-part", part),
    "archive-dotdot": ("../../escaped.tar.gz", raw_file),
    "archive-stem-dot": ("..tar.gz", raw_file),
    "member-backslash": ("..\\..\\escaped.jsonl", member),
    "member-empty-segment": ("a//escaped.jsonl", member),
    "shard-dotdot": ("../../escaped-shard", shard),
}


@pytest.fixture
def s3_store(
    moto_server: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str, Callable[[], list[str]]]]:

    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_MOTO",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": moto_server.url, "region_name": "us-east-1"},
            }
        ),
    )
    client = stand_in_s3_client(moto_server.url)
    bucket = f"hostile-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)

    def keys() -> list[str]:
        return [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]

    yield f"s3://{bucket}/run/out", "aws_moto", keys


@pytest.fixture
def gcs_store(
    gcs_emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str, Callable[[], list[str]]]]:
    import gcsfs
    import gcsfs.core
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    # gcsfs' default filesystem probes bucket types over gRPC, which the emulator does not speak.
    monkeypatch.setattr(gcsfs, "GCSFileSystem", gcsfs.core.GCSFileSystem)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_GCS_EMULATOR",
        json.dumps(
            {
                "conn_type": "google_cloud_platform",
                "extra": {"is_anonymous": True, "project": "test-project", "gcs.endpoint": gcs_emulator.url},
            }
        ),
    )
    client = storage.Client(project="test-project", credentials=AnonymousCredentials())
    bucket = client.create_bucket(f"hostile-{uuid.uuid4().hex[:8]}")
    yield f"gs://{bucket.name}/run/out", "gcs_emulator", lambda: [b.name for b in bucket.list_blobs()]


@pytest.fixture
def file_store(tmp_path: Path) -> tuple[str, None, Callable[[], list[str]]]:
    def keys() -> list[str]:
        return [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()]

    return f"file://{tmp_path}/run/out", None, keys


@pytest.mark.parametrize("scheme", ["file", "s3", "gcs"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_server_name_fails_the_export_and_writes_nothing_outside(
    scheme: str, case: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination, conn_id, keys = request.getfixturevalue(f"{scheme}_store")
    name, add = HOSTILE[case]
    fake = build_client()
    add(name)(fake)
    monkeypatch.setattr(RoboflowExportOperator, "_hook", lambda self: FakeHook(fake))
    operator = RoboflowExportOperator(
        task_id="export",
        job_id="job-1",
        destination=destination,
        destination_conn_id=conn_id,
        expected_count=5,
        max_concurrency=1,
    )
    with pytest.raises(AirflowFailException) as refused:
        operator.execute(make_context())
    assert repr(name) in str(refused.value)
    prefix = "run/out/"
    written = keys()
    assert [key for key in written if not key.startswith(prefix)] == []
    assert not [key for key in written if "escaped" in key or key.startswith(f"{prefix}manifest")]
