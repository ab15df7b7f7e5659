from __future__ import annotations

import contextlib
import json
import os
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from include.roboflow_batch.api.client import RoboflowClient
from include.roboflow_batch.api.errors import BadRequestError, NotFoundError, ServerError
from include.roboflow_batch.api.models import BatchMetadata, FileMetadata, IngestResult, SignedURLDetails
from include.roboflow_batch.identity import batch_id_from_context
from include.roboflow_batch.operators.ingest import RoboflowIngestOperator
from tests.unit.ingest.task_context import INTERVAL, FakeStateStore, make_context

BATCH = "unit-batch"


@pytest.fixture
def client() -> Iterator[mock.MagicMock]:
    fake = mock.create_autospec(RoboflowClient, instance=True)
    fake.ingest_image_references.side_effect = lambda batch_id, *, ingest_id, **_: IngestResult(
        ingest_id=ingest_id
    )
    fake.ingest_video_references.side_effect = lambda batch_id, *, ingest_id, **_: IngestResult(
        ingest_id=ingest_id
    )
    fake.get_batch.side_effect = NotFoundError("no such batch", status_code=404)
    fake.iter_batch_files.side_effect = lambda *a, **k: iter([])
    fake.request_bulk_image_upload.return_value = SignedURLDetails(
        upload_url="http://up/tar", extension_headers={}
    )
    fake.request_video_upload.return_value = SignedURLDetails(
        upload_url="http://up/video", extension_headers={}
    )
    with mock.patch("include.roboflow_batch.operators.base.RoboflowHook") as hook_cls:
        hook_cls.return_value.get_client.return_value = fake
        yield fake


def write_references(path: Path, count: int) -> str:
    with path.open("w") as out:
        for i in range(count):
            out.write(
                json.dumps({"name": f"img-{i:06d}.jpg", "url": f"https://b.example/{i}?sig=s3cret"}) + "\n"
            )
    return path.as_uri()


def make_images(directory: Path, count: int, prefix: str = "img") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = directory / f"{prefix}-{i:03d}.jpg"
        path.write_bytes(b"\xff\xd8" + bytes([i % 256]) * 10)
        paths.append(path)
    return paths


def existing_batch(batch_type: str, content: str = "images") -> BatchMetadata:
    return BatchMetadata(
        display_name=BATCH,
        batch_id=BATCH,
        batch_type=batch_type,
        batch_content_type=content,
        created_date=datetime(2026, 3, 1, tzinfo=UTC),
        expiry_date=datetime(2026, 3, 8, tzinfo=UTC),
    )


# -- references ----------------------------------------------------------------------------------


def test_references_are_sent_in_chunks_of_20000_with_stable_ids(
    client: mock.MagicMock, tmp_path: Path, context: dict[str, Any]
) -> None:
    uri = write_references(tmp_path / "refs.jsonl", 20_001)
    op = RoboflowIngestOperator(task_id="ingest", batch_id=BATCH, references=uri)

    first = op.execute(context)

    calls = client.ingest_image_references.call_args_list
    assert [len(c.kwargs["references"]) for c in calls] == [20_000, 1]
    assert calls[1].kwargs["references"] == [
        {"name": "img-020000.jpg", "url": "https://b.example/20000?sig=s3cret"}
    ]
    assert first["expected_count"] == 20_001
    assert first["mode"] == "references"
    assert len(set(first["ingest_ids"])) == 2
    assert [c.kwargs["ingest_id"] for c in calls] == first["ingest_ids"]
    assert "s3cret" not in json.dumps(first)

    # A retry re-sends the same chunks under the same ids; the service answers duplicated.
    client.ingest_image_references.side_effect = lambda batch_id, *, ingest_id, **_: IngestResult(
        ingest_id=ingest_id, duplicated=True
    )
    retry = op.execute(context)
    assert retry["ingest_ids"] == first["ingest_ids"]
    assert retry["duplicated_chunks"] == 2


def test_exactly_20000_references_are_one_request(client: mock.MagicMock, tmp_path: Path, context) -> None:
    uri = write_references(tmp_path / "refs.jsonl", 20_000)
    RoboflowIngestOperator(task_id="ingest", batch_id=BATCH, references=uri).execute(context)
    assert client.ingest_image_references.call_count == 1


def test_video_references_are_chunked_at_5000(client: mock.MagicMock, tmp_path: Path, context) -> None:
    uri = write_references(tmp_path / "refs.jsonl", 5_001)
    summary = RoboflowIngestOperator(
        task_id="ingest", batch_id=BATCH, references=uri, media_type="videos"
    ).execute(context)
    assert [len(c.kwargs["references"]) for c in client.ingest_video_references.call_args_list] == [5_000, 1]
    assert summary["media_type"] == "videos"
    client.ingest_image_references.assert_not_called()


def test_notifications_are_forwarded_per_chunk(client: mock.MagicMock, tmp_path: Path, context) -> None:
    uri = write_references(tmp_path / "refs.jsonl", 3)
    RoboflowIngestOperator(
        task_id="ingest",
        batch_id=BATCH,
        references=uri,
        batch_name="Nightly",
        notifications_url="https://hooks.example/rf",
        notification_categories=["files-status", "ingest-status", "files-status"],
    ).execute(context)
    kwargs = client.ingest_image_references.call_args.kwargs
    assert kwargs["notifications_url"] == "https://hooks.example/rf"
    assert kwargs["notification_categories"] == ["files-status", "ingest-status"]
    assert kwargs["display_name"] == "Nightly"


def test_a_bad_line_fails_before_anything_is_sent(client: mock.MagicMock, tmp_path: Path, context) -> None:
    path = tmp_path / "refs.jsonl"
    write_references(path, 5)
    with path.open("a") as out:
        out.write('{"name": "broken.jpg", "url": 42}\n')
    op = RoboflowIngestOperator(task_id="ingest", batch_id=BATCH, references=path.as_uri())
    with pytest.raises(AirflowFailException, match=r"refs\.jsonl, line 6: field 'url'"):
        op.execute(context)
    client.ingest_image_references.assert_not_called()
    client.close.assert_called_once()


@pytest.mark.parametrize(
    "name",
    [
        "../escape.jpg",
        "a/../../b.jpg",
        "/etc/cron.d/x.jpg",
        "C:evil.jpg",
        "a\\..\\b.jpg",
        "nul\u0000.jpg",
        "./a.jpg",
    ],
)
def test_an_unsafe_reference_name_is_refused_naming_it(
    client: mock.MagicMock, tmp_path: Path, context, name: str
) -> None:
    path = tmp_path / "refs.jsonl"
    write_references(path, 2)
    with path.open("a") as out:
        out.write(json.dumps({"name": name, "url": "https://h/x.jpg"}) + "\n")
    op = RoboflowIngestOperator(task_id="ingest", batch_id=BATCH, references=path.as_uri())
    with pytest.raises(AirflowFailException) as caught:
        op.execute(context)
    assert f"line 3: name {name!r} is refused" in str(caught.value)
    client.ingest_image_references.assert_not_called()


def test_missing_references_file_is_a_clear_failure(client: mock.MagicMock, tmp_path: Path, context) -> None:
    uri = (tmp_path / "nope.jsonl").as_uri()
    with pytest.raises(AirflowFailException, match="does not exist"):
        RoboflowIngestOperator(task_id="ingest", batch_id=BATCH, references=uri).execute(context)


def test_an_empty_references_file_skips(client: mock.MagicMock, tmp_path: Path, context) -> None:
    uri = write_references(tmp_path / "refs.jsonl", 0)
    with pytest.raises(AirflowSkipException):
        RoboflowIngestOperator(task_id="ingest", batch_id=BATCH, references=uri).execute(context)
    client.ingest_image_references.assert_not_called()


def test_references_url_is_one_request_counted_from_the_file(client, tmp_path: Path, context) -> None:
    uri = write_references(tmp_path / "refs.jsonl", 42)
    summary = RoboflowIngestOperator(
        task_id="ingest",
        batch_id=BATCH,
        references=uri,
        references_url="https://signed.example/refs.jsonl?sig=x",
    ).execute(context)
    client.ingest_image_references.assert_called_once()
    kwargs = client.ingest_image_references.call_args.kwargs
    assert kwargs["references_url"] == "https://signed.example/refs.jsonl?sig=x"
    assert "references" not in kwargs or kwargs["references"] is None
    assert summary["mode"] == "references_url"
    assert summary["expected_count"] == 42


def test_references_url_alone_is_counted_by_reading_it(client, tmp_path: Path, context) -> None:
    source = tmp_path / "remote.jsonl"
    write_references(source, 7)
    client.download_file.side_effect = lambda url, dest: Path(dest).write_bytes(source.read_bytes())
    summary = RoboflowIngestOperator(
        task_id="ingest", batch_id=BATCH, references_url="https://signed.example/refs.jsonl?sig=x"
    ).execute(context)
    assert summary["expected_count"] == 7


def test_unreadable_references_url_leaves_the_count_to_the_service(client, context) -> None:
    client.download_file.side_effect = ServerError("nope", status_code=503)
    op = RoboflowIngestOperator(
        task_id="ingest", batch_id=BATCH, references_url="https://signed.example/r.jsonl"
    )
    first = op.execute(context)
    assert first["expected_count"] is None
    assert first["ingest_ids"] == op.execute(context)["ingest_ids"]


def test_client_errors_fail_without_retry_and_server_errors_retry(client, tmp_path: Path, context) -> None:
    uri = write_references(tmp_path / "refs.jsonl", 2)
    op = RoboflowIngestOperator(task_id="ingest", batch_id=BATCH, references=uri)
    client.ingest_image_references.side_effect = BadRequestError("bad body", status_code=400)
    with pytest.raises(AirflowFailException, match="bad body"):
        op.execute(context)
    client.ingest_image_references.side_effect = ServerError("down", status_code=503)
    with pytest.raises(AirflowException, match="down") as caught:
        op.execute(context)
    assert not isinstance(caught.value, AirflowFailException)


def test_batch_id_defaults_to_the_run_identity(client, tmp_path: Path, context) -> None:
    uri = write_references(tmp_path / "refs.jsonl", 1)
    summary = RoboflowIngestOperator(task_id="ingest", references=uri).execute(context)
    assert summary["batch_id"] == batch_id_from_context(context)
    assert client.ingest_image_references.call_args.args[0] == summary["batch_id"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one source"),
        ({"references": "file:///r.jsonl", "local_directory": "/tmp"}, "exactly one source"),
        ({"references": "file:///r.jsonl", "media_type": "audio"}, "media_type"),
        (
            {"references": "file:///r.jsonl", "notification_categories": ["ingest-status"]},
            "needs notifications_url",
        ),
        (
            {
                "references": "file:///r.jsonl",
                "notifications_url": "https://h",
                "notification_categories": ["all"],
            },
            "notification_categories: unknown",
        ),
        ({"local_directory": "/tmp", "images_per_tar": 501}, "images_per_tar"),
        ({"local_directory": "/tmp", "upload_concurrency": 0}, "upload_concurrency"),
        ({"local_directory": "/tmp", "select": "newest"}, "select"),
        ({"references": "file:///r.jsonl", "batch_id": "Bad Id"}, "batch_id"),
    ],
)
def test_bad_arguments_name_the_field(client, context, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(AirflowFailException, match=message):
        RoboflowIngestOperator(task_id="ingest", **kwargs).execute(context)
    client.assert_not_called()


# -- local directory -----------------------------------------------------------------------------


def test_small_directories_use_single_uploads_and_a_retry_sends_nothing_again(
    client: mock.MagicMock, tmp_path: Path, state_store: FakeStateStore
) -> None:
    make_images(tmp_path / "in", 3)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    (tmp_path / "in" / "sub").mkdir()
    make_images(tmp_path / "in" / "sub", 2, prefix="nested")
    context = make_context(interval=INTERVAL, store=state_store)
    op = RoboflowIngestOperator(task_id="ingest", batch_id=BATCH, local_directory=str(tmp_path / "in"))

    summary = op.execute(context)

    names = sorted(c.args[1] for c in client.upload_image.call_args_list)
    assert names == ["img-000.jpg", "img-001.jpg", "img-002.jpg"]
    assert summary | {"ingest_ids": []} == summary
    assert (summary["mode"], summary["expected_count"], summary["sent_count"]) == ("simple", 3, 3)

    client.reset_mock()
    client.get_batch.side_effect = None
    client.get_batch.return_value = existing_batch("simple-batch")
    again = op.execute(context)
    client.upload_image.assert_not_called()
    assert (again["sent_count"], again["already_sent_count"]) == (0, 3)


def test_files_already_in_the_batch_are_not_sent_again(
    client: mock.MagicMock, tmp_path: Path, context
) -> None:
    make_images(tmp_path / "in", 3)
    client.get_batch.side_effect = None
    client.get_batch.return_value = existing_batch("simple-batch")
    client.iter_batch_files.side_effect = lambda *a, **k: iter(
        [FileMetadata(download_url="http://x", file_name="img-001.jpg", content_type="images")]
    )
    RoboflowIngestOperator(task_id="ingest", batch_id=BATCH, local_directory=str(tmp_path / "in")).execute(
        context
    )
    assert sorted(c.args[1] for c in client.upload_image.call_args_list) == ["img-000.jpg", "img-002.jpg"]


def _tar_members(client: mock.MagicMock) -> list[list[str]]:
    return [sorted(names) for names in client.uploaded_tars]


@pytest.fixture
def tar_capture(client: mock.MagicMock) -> mock.MagicMock:
    client.uploaded_tars = []
    client.notification_configs = []

    def capture(details: SignedURLDetails, path: os.PathLike[str]) -> int:
        with tarfile.open(path) as archive:
            client.uploaded_tars.append(archive.getnames())
            member = next((m for m in archive.getmembers() if m.name == "notification_config.json"), None)
            if member is not None:
                client.notification_configs.append(json.loads(archive.extractfile(member).read()))
        return Path(path).stat().st_size

    client.upload_file.side_effect = capture
    return client


def test_large_directories_go_in_bulk_tars(tar_capture: mock.MagicMock, tmp_path: Path, context) -> None:
    make_images(tmp_path / "in", 7)
    summary = RoboflowIngestOperator(
        task_id="ingest",
        batch_id=BATCH,
        local_directory=str(tmp_path / "in"),
        simple_upload_limit=2,
        images_per_tar=3,
        notifications_url="https://hooks.example/rf",
    ).execute(context)
    tar_capture.upload_image.assert_not_called()
    assert tar_capture.request_bulk_image_upload.call_count == 3
    members = sorted(sorted(m for m in names if m.endswith(".jpg")) for names in tar_capture.uploaded_tars)
    assert members == [
        ["img-000.jpg", "img-001.jpg", "img-002.jpg"],
        ["img-003.jpg", "img-004.jpg", "img-005.jpg"],
        ["img-006.jpg"],
    ]
    assert (summary["mode"], summary["expected_count"], len(summary["ingest_ids"])) == ("bulk", 7, 3)
    configs = sorted(c["ingestId"] for c in tar_capture.notification_configs)
    assert configs == sorted(summary["ingest_ids"])
    assert {c["notificationsURL"] for c in tar_capture.notification_configs} == {"https://hooks.example/rf"}


def test_a_failed_tar_is_the_only_one_sent_again(tar_capture: mock.MagicMock, tmp_path: Path) -> None:
    make_images(tmp_path / "in", 9)
    store = FakeStateStore()
    context = make_context(interval=INTERVAL, store=store)
    op = RoboflowIngestOperator(
        task_id="ingest",
        batch_id=BATCH,
        local_directory=str(tmp_path / "in"),
        simple_upload_limit=0,
        images_per_tar=3,
        upload_concurrency=1,
    )
    capture = tar_capture.upload_file.side_effect
    calls = {"n": 0}

    def flaky(details: SignedURLDetails, path: os.PathLike[str]) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ServerError("storage hiccup", status_code=503)
        return capture(details, path)

    tar_capture.upload_file.side_effect = flaky
    with pytest.raises(AirflowException, match="storage hiccup"):
        op.execute(context)
    first_attempt = [name for names in tar_capture.uploaded_tars for name in names]
    assert 3 <= len(first_attempt) < 9

    tar_capture.upload_file.side_effect = capture
    tar_capture.get_batch.side_effect = None
    tar_capture.get_batch.return_value = existing_batch("sharded-batch")
    summary = op.execute(context)
    every_upload = sorted(name for names in tar_capture.uploaded_tars for name in names)
    # Each image reached the service exactly once over both attempts.
    assert every_upload == [f"img-{i:03d}.jpg" for i in range(9)]
    assert summary["already_sent_count"] == len(first_attempt)
    assert summary["sent_count"] == 9 - len(first_attempt)


def test_an_existing_bulk_batch_stays_bulk(tar_capture: mock.MagicMock, tmp_path: Path, context) -> None:
    make_images(tmp_path / "in", 1)
    tar_capture.get_batch.side_effect = None
    tar_capture.get_batch.return_value = existing_batch("sharded-batch")
    summary = RoboflowIngestOperator(
        task_id="ingest", batch_id=BATCH, local_directory=str(tmp_path / "in")
    ).execute(context)
    assert summary["mode"] == "bulk"
    tar_capture.upload_image.assert_not_called()
    assert tar_capture.uploaded_tars == [["img-000.jpg"]]


def test_an_existing_simple_batch_stays_simple(client: mock.MagicMock, tmp_path: Path, context) -> None:
    make_images(tmp_path / "in", 5)
    client.get_batch.side_effect = None
    client.get_batch.return_value = existing_batch("simple-batch")
    summary = RoboflowIngestOperator(
        task_id="ingest", batch_id=BATCH, local_directory=str(tmp_path / "in"), simple_upload_limit=2
    ).execute(context)
    assert summary["mode"] == "simple"
    assert client.upload_image.call_count == 5
    client.request_bulk_image_upload.assert_not_called()


def test_a_batch_of_other_content_is_refused(client: mock.MagicMock, tmp_path: Path, context) -> None:
    make_images(tmp_path / "in", 2)
    client.get_batch.side_effect = None
    client.get_batch.return_value = existing_batch("simple-batch", content="videos")
    with pytest.raises(AirflowFailException, match="already holds videos"):
        RoboflowIngestOperator(
            task_id="ingest", batch_id=BATCH, local_directory=str(tmp_path / "in")
        ).execute(context)
    client.upload_image.assert_not_called()


@pytest.mark.usefixtures("arrival_by_mtime")
def test_interval_selection_keeps_files_modified_in_the_interval(client, tmp_path: Path, context) -> None:
    paths = make_images(tmp_path / "in", 4)
    stamps = [
        INTERVAL[0].timestamp() - 1,
        INTERVAL[0].timestamp(),
        INTERVAL[1].timestamp() - 1,
        INTERVAL[1].timestamp(),
    ]
    for path, stamp in zip(paths, stamps, strict=True):
        os.utime(path, (stamp, stamp))
    summary = RoboflowIngestOperator(
        task_id="ingest", batch_id=BATCH, local_directory=str(tmp_path / "in"), select="interval"
    ).execute(context)
    assert sorted(c.args[1] for c in client.upload_image.call_args_list) == ["img-001.jpg", "img-002.jpg"]
    assert summary["expected_count"] == 2


def test_interval_selection_needs_an_interval(client, tmp_path: Path) -> None:
    make_images(tmp_path / "in", 1)
    op = RoboflowIngestOperator(
        task_id="ingest", batch_id=BATCH, local_directory=str(tmp_path / "in"), select="interval"
    )
    with pytest.raises(AirflowFailException, match="data interval"):
        op.execute(make_context())


def test_an_empty_directory_skips(client, tmp_path: Path, context) -> None:
    (tmp_path / "in").mkdir()
    with pytest.raises(AirflowSkipException, match="no images"):
        RoboflowIngestOperator(
            task_id="ingest", batch_id=BATCH, local_directory=str(tmp_path / "in")
        ).execute(context)


@pytest.mark.parametrize("where", ["s3://bucket/prefix", "missing-dir"])
def test_a_directory_that_is_not_local_is_refused(client, tmp_path: Path, context, where: str) -> None:
    with pytest.raises(AirflowFailException, match="local_directory"):
        RoboflowIngestOperator(
            task_id="ingest",
            batch_id=BATCH,
            local_directory=str(tmp_path / where) if "://" not in where else where,
        ).execute(context)


def test_videos_get_one_signed_upload_each(client: mock.MagicMock, tmp_path: Path, context) -> None:
    directory = tmp_path / "clips"
    directory.mkdir()
    for name in ("b.mp4", "a.MOV", "c.jpg"):
        (directory / name).write_bytes(b"\x00" * 32)
    summary = RoboflowIngestOperator(
        task_id="ingest", batch_id=BATCH, local_directory=directory.as_uri(), media_type="videos"
    ).execute(context)
    assert sorted(c.args[1] for c in client.request_video_upload.call_args_list) == ["a.MOV", "b.mp4"]
    assert sorted(Path(c.args[1]).name for c in client.upload_file.call_args_list) == ["a.MOV", "b.mp4"]
    assert (summary["mode"], summary["expected_count"]) == ("video", 2)


def test_refused_single_uploads_are_reported_not_expected(
    client: mock.MagicMock, tmp_path: Path, context
) -> None:
    make_images(tmp_path / "in", 4)

    def upload(batch_id: str, name: str, content: bytes, display_name: str | None = None) -> None:
        if name == "img-002.jpg":
            raise BadRequestError(
                "file-size-limit-exceeded: Max size of single image is 20971520B.", status_code=400
            )

    client.upload_image.side_effect = upload
    op = RoboflowIngestOperator(task_id="ingest", batch_id=BATCH, local_directory=str(tmp_path / "in"))
    summary = op.execute(context)
    assert (summary["expected_count"], summary["sent_count"], summary["rejected_count"]) == (3, 3, 1)
    assert summary["rejected"] == [
        {
            "file_name": "img-002.jpg",
            "reason": "file-size-limit-exceeded: Max size of single image is 20971520B.",
        }
    ]
    # A retry reports the refusal again instead of silently expecting the file.
    client.upload_image.reset_mock()
    client.get_batch.side_effect = None
    client.get_batch.return_value = existing_batch("simple-batch")
    again = op.execute(context)
    assert [c.args[1] for c in client.upload_image.call_args_list] == ["img-002.jpg"]
    assert (again["expected_count"], again["rejected_count"]) == (3, 1)


def test_a_signed_references_url_is_not_kept_in_rendered_fields(context) -> None:
    from airflow.sdk.execution_time.task_runner import _serialize_rendered_fields

    signed = "https://store.example/refs.jsonl?X-Amz-Credential=AKIA&X-Amz-Signature=0123456789abcdef"
    op = RoboflowIngestOperator(task_id="ingest", batch_id=BATCH, references_url=signed)
    op.render_template_fields(context)

    stored = json.dumps(_serialize_rendered_fields(op))

    assert "X-Amz-Signature" not in stored and "0123456789abcdef" not in stored
    assert op.references_url == signed  # still used as given


def test_a_copy_with_an_old_modification_time_is_taken_once_when_it_arrives(client, tmp_path: Path) -> None:
    import shutil
    from datetime import timedelta

    source = make_images(tmp_path / "elsewhere", 1)[0]
    old = datetime(2025, 6, 1, tzinfo=UTC).timestamp()
    os.utime(source, (old, old))
    drop = tmp_path / "drop"
    drop.mkdir()
    before = datetime.now(UTC) - timedelta(seconds=1)
    copy = Path(shutil.copy2(source, drop / source.name))  # keeps the old times, like cp -p
    assert copy.stat().st_mtime == old
    arrived = (before, datetime.now(UTC) + timedelta(seconds=1))
    windows = {
        "when it was modified": (datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 6, 2, tzinfo=UTC)),
        "when it arrived": arrived,
        "the next window": (arrived[1], arrived[1] + timedelta(hours=1)),
    }

    taken = {}
    for label, window in windows.items():
        client.upload_image.reset_mock()
        operator = RoboflowIngestOperator(
            task_id="ingest", batch_id=BATCH, local_directory=str(drop), select="interval"
        )
        with contextlib.suppress(AirflowSkipException):
            operator.execute(make_context(interval=window, store=FakeStateStore()))
        taken[label] = [c.args[1] for c in client.upload_image.call_args_list]

    assert taken == {"when it was modified": [], "when it arrived": [copy.name], "the next window": []}
