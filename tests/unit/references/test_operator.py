import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from airflow.sdk.exceptions import AirflowSkipException
from moto import mock_aws

from include.roboflow_batch.operators.references import GCSReferencesOperator, S3ReferencesOperator
from include.roboflow_batch.references.expiry import ExpiryError

NOW = datetime.now(UTC)
RUN_CONTEXT = {"data_interval_start": NOW - timedelta(hours=1), "data_interval_end": NOW + timedelta(hours=1)}


@pytest.fixture(autouse=True)
def _windows_relative_to_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows are relative to when each test runs (objects are stamped then), not to module import."""
    now = datetime.now(UTC)
    monkeypatch.setattr(sys.modules[__name__], "NOW", now)
    window = {"data_interval_start": now - timedelta(hours=1), "data_interval_end": now + timedelta(hours=1)}
    monkeypatch.setattr(sys.modules[__name__], "RUN_CONTEXT", window)


@pytest.fixture
def bucket() -> str:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="media")
        client.put_object(Bucket="media", Key="in/a.jpg", Body=b"a" * 10)
        client.put_object(Bucket="media", Key="in/deep/b.PNG", Body=b"b" * 10)
        client.put_object(Bucket="media", Key="in/readme.txt", Body=b"text")
        yield "media"


def operator(tmp_path: Path, **kwargs: object) -> S3ReferencesOperator:
    options = {
        "task_id": "references",
        "bucket": "media",
        "prefix": "in/",
        "destination": f"file://{tmp_path}/refs.jsonl",
        "aws_conn_id": None,
    } | kwargs
    return S3ReferencesOperator(**options)


@pytest.mark.usefixtures("bucket")
def test_new_images_become_a_references_file_and_a_small_summary(
    tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    result = operator(tmp_path).execute(RUN_CONTEXT)
    lines = [json.loads(line) for line in (tmp_path / "refs.jsonl").read_text().splitlines()]
    assert [line["name"] for line in lines] == ["in__a.jpg", "in__deep__b.PNG"]
    assert all(parse_qs(urlsplit(line["url"]).query)["X-Amz-Expires"] == ["86400"] for line in lines)
    assert result["count"] == 2
    assert result["references_uri"] == f"file://{tmp_path}/refs.jsonl"
    assert result["source"] == "s3://media/in/"
    assert result["expiry_seconds"] == 86400
    # Signed URLs are secrets: not in the return value (XCom), not in the task log.
    assert "X-Amz" not in json.dumps(result)
    captured = capfd.readouterr()
    assert "X-Amz-Signature" not in captured.out + captured.err


@pytest.mark.usefixtures("bucket")
def test_a_run_with_nothing_new_is_skipped_and_writes_nothing(tmp_path: Path) -> None:
    past = {"data_interval_start": NOW - timedelta(days=2), "data_interval_end": NOW - timedelta(days=1)}
    with pytest.raises(AirflowSkipException, match="no new images under s3://media/in/"):
        operator(tmp_path).execute(past)
    assert not (tmp_path / "refs.jsonl").exists()


@pytest.mark.usefixtures("bucket")
def test_manual_runs_can_pass_the_window_explicitly(tmp_path: Path) -> None:
    op = operator(
        tmp_path,
        interval_start=(NOW - timedelta(minutes=10)).isoformat(),
        interval_end=(NOW + timedelta(minutes=10)).isoformat(),
    )
    assert op.execute({"data_interval_start": None, "data_interval_end": None})["count"] == 2


@pytest.mark.usefixtures("bucket")
def test_a_manual_run_without_any_window_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='select="interval" needs a data interval'):
        operator(tmp_path).execute({"data_interval_start": None, "data_interval_end": None})


@pytest.mark.usefixtures("bucket")
def test_select_all_takes_every_image(tmp_path: Path) -> None:
    assert operator(tmp_path, select="all").execute({})["count"] == 2


@pytest.mark.usefixtures("bucket")
def test_videos_are_selected_by_their_own_extensions(tmp_path: Path) -> None:
    with pytest.raises(AirflowSkipException, match="no new videos"):
        operator(tmp_path, media_type="videos", select="all").execute({})


@pytest.mark.usefixtures("bucket")
def test_a_window_of_skipped_objects_only_can_be_returned_for_its_manifest(tmp_path: Path) -> None:
    op = operator(
        tmp_path, media_type="videos", select="all", skip_when_all_skipped=False, max_objects_per_file=5
    )

    result = op.execute({})

    assert (result["count"], result["chunks"], result["references_uri"]) == (0, [], None)
    assert result["skipped"] == {"unsupported-file-type": 3}
    skipped = [json.loads(line) for line in (tmp_path / "refs.skipped.jsonl").read_text().splitlines()]
    assert result["skipped_uri"] == f"file://{tmp_path}/refs.skipped.jsonl"
    assert sorted((entry["key"], entry["size"]) for entry in skipped) == [
        ("in/a.jpg", 10),
        ("in/deep/b.PNG", 10),
        ("in/readme.txt", 4),
    ]
    assert not (tmp_path / "refs.jsonl").exists()


@pytest.mark.usefixtures("bucket")
def test_a_window_with_no_object_is_skipped_whatever_the_option(tmp_path: Path) -> None:
    past = {"data_interval_start": NOW - timedelta(days=2), "data_interval_end": NOW - timedelta(days=1)}
    with pytest.raises(AirflowSkipException, match="no new images"):
        operator(tmp_path, skip_when_all_skipped=False).execute(past)


def test_templated_fields_are_kept_verbatim_until_execute(tmp_path: Path) -> None:
    op = operator(
        tmp_path,
        bucket="{{ params.bucket }}",
        expiry="{{ params.expiry }}",
        media_type="{{ params.media }}",
        select="{{ ti.xcom_pull('plan')['select'] }}",
    )
    assert (op.bucket, op.expiry, op.media_type) == (
        "{{ params.bucket }}",
        "{{ params.expiry }}",
        "{{ params.media }}",
    )
    for field in ("bucket", "prefix", "destination", "media_type", "expiry", "select", "interval_start"):
        assert field in S3ReferencesOperator.template_fields


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"expiry": timedelta(days=8)}, "7-day maximum"),
        ({"expiry": "one day"}, "expiry must be"),
        ({"media_type": "audio"}, "media_type must be one of"),
        ({"destination": "refs.jsonl"}, "destination must be a URI"),
        ({"destination": "ftp://host/refs.jsonl"}, "destination scheme"),
        ({"select": "latest"}, "select must be one of"),
        ({"bucket": "media/in"}, "bucket must be"),
        ({"prefix": "/in"}, "prefix must be"),
    ],
)
def test_bad_input_fails_before_any_listing_and_names_the_field(
    tmp_path: Path, override: dict[str, object], message: str
) -> None:
    op = operator(tmp_path, **override)
    with (
        mock.patch.object(S3ReferencesOperator, "iter_objects") as listing,
        pytest.raises(ValueError, match=message),
    ):
        op.execute(RUN_CONTEXT)
    listing.assert_not_called()


@pytest.mark.usefixtures("bucket")
def test_credentials_expiring_before_the_urls_fail_the_task(tmp_path: Path) -> None:
    soon = NOW + timedelta(hours=1)
    with (
        mock.patch(
            "include.roboflow_batch.references.s3.credentials_expire_at", return_value=("A", "s", soon)
        ),
        pytest.raises(ExpiryError, match="stop working early"),
    ):
        operator(tmp_path).execute(RUN_CONTEXT)
    assert not (tmp_path / "refs.jsonl").exists()


@pytest.mark.usefixtures("bucket")
def test_credentials_expiring_first_can_shorten_the_urls(tmp_path: Path) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    with mock.patch(
        "include.roboflow_batch.references.s3.credentials_expire_at", return_value=("A", "s", soon)
    ):
        result = operator(tmp_path, shorten_to_credentials=True).execute(RUN_CONTEXT)
    assert 3500 < result["expiry_seconds"] <= 3600
    url = json.loads((tmp_path / "refs.jsonl").read_text().splitlines()[0])["url"]
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == [str(result["expiry_seconds"])]
    assert datetime.fromisoformat(result["expires_at"]) <= soon


def test_gcs_operator_offers_the_same_templated_fields() -> None:
    op = GCSReferencesOperator(
        task_id="t", bucket="b", destination="gs://private/refs.jsonl", signing_conn_id="signer"
    )
    assert op.template_fields == S3ReferencesOperator.template_fields
    assert op.source_uri == "gs://b/"


@pytest.mark.usefixtures("bucket")
def test_a_limit_per_file_splits_the_references_and_lists_the_files(tmp_path: Path) -> None:
    result = operator(tmp_path, max_objects_per_file=1).execute(RUN_CONTEXT)

    assert result["count"] == 2
    assert result["references_uri"] is None
    assert [(c["index"], c["count"]) for c in result["chunks"]] == [(0, 1), (1, 1)]
    assert [Path(urlsplit(c["references_uri"]).path).name for c in result["chunks"]] == [
        "refs.chunk-0000.jsonl",
        "refs.chunk-0001.jsonl",
    ]
    assert "X-Amz" not in json.dumps(result)


@pytest.mark.usefixtures("bucket")
def test_more_files_than_max_map_length_fails_naming_both_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "1")

    with pytest.raises(AirflowFailException, match=r"max_batch_objects .* \[core\] max_map_length \(now 1\)"):
        operator(tmp_path, max_objects_per_file=1).execute(RUN_CONTEXT)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("limit", [0, "10", True])
def test_a_bad_limit_per_file_is_named(tmp_path: Path, limit: object) -> None:
    with pytest.raises(ValueError, match="max_objects_per_file must be an integer >= 1"):
        operator(tmp_path, max_objects_per_file=limit).execute(RUN_CONTEXT)
