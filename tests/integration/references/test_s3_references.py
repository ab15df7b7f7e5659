import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from airflow.sdk.exceptions import AirflowSkipException

from include.roboflow_batch.media import MAX_IMAGE_BYTES
from include.roboflow_batch.operators.references import S3ReferencesOperator
from include.roboflow_batch.references.naming import key_for_name
from tests.integration.references.conftest import ACCESS_KEY, SECRET_KEY
from tests.unit.references.signatures import sigv4_signature_is_valid

pytestmark = pytest.mark.integration

KEYS = [
    "cams/north/2026-03-01/frame-0001.jpg",
    "cams/north/2026-03-01/frame 0002.JPG",
    "cams/süd/写真.png",
    "cams/a_b/c__d.webp",
    "cams/plus+equals=.jpeg",
]


def around_now() -> dict[str, datetime]:
    now = datetime.now(UTC)
    return {"data_interval_start": now - timedelta(hours=1), "data_interval_end": now + timedelta(hours=1)}


def upload(s3_client: Any, bucket: str, keys: list[str]) -> dict[str, bytes]:
    contents = {key: os.urandom(64) + key.encode() for key in keys}
    for key, body in contents.items():
        s3_client.put_object(Bucket=bucket, Key=key, Body=body)
    return contents


def read_references(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_signed_url_serves_the_exact_bytes_and_carries_a_valid_sigv4_signature(
    tmp_path: Path, s3_client: Any, s3_bucket: str, aws_conn_id: str
) -> None:
    contents = upload(s3_client, s3_bucket, [*KEYS, "cams/notes.txt", "other/outside-prefix.jpg"])
    op = S3ReferencesOperator(
        task_id="references",
        bucket=s3_bucket,
        prefix="cams/",
        destination=f"file://{tmp_path}/refs.jsonl",
        aws_conn_id=aws_conn_id,
        expiry=timedelta(hours=6),
        page_size=2,  # several listing pages
    )
    result = op.execute(around_now())

    references = read_references(tmp_path / "refs.jsonl")
    assert sorted(key_for_name(r["name"]) for r in references) == sorted(KEYS)
    assert len({r["name"] for r in references}) == len(KEYS)
    for reference in references:
        url = reference["url"]
        response = requests.get(url, timeout=10)
        assert response.status_code == 200
        assert response.content == contents[key_for_name(reference["name"])]
        assert sigv4_signature_is_valid(url, ACCESS_KEY, SECRET_KEY)
        query = parse_qs(urlsplit(url).query)
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        assert query["X-Amz-Expires"] == ["21600"]
    assert result["count"] == len(KEYS)
    # Under the prefix and in the window, but not an image: listed as skipped, with the reason.
    assert result["skipped"] == {"unsupported-file-type": 1}
    assert result["skipped_examples"] == [{"key": "cams/notes.txt", "reason": "unsupported-file-type"}]
    assert result["expiry_seconds"] == 21600


def test_oversize_images_are_reported_and_left_out(
    tmp_path: Path, s3_client: Any, s3_bucket: str, aws_conn_id: str
) -> None:
    upload(s3_client, s3_bucket, ["in/small.jpg"])
    s3_client.put_object(Bucket=s3_bucket, Key="in/huge.jpg", Body=b"\0" * (MAX_IMAGE_BYTES + 1))
    result = S3ReferencesOperator(
        task_id="references",
        bucket=s3_bucket,
        prefix="in/",
        destination=f"file://{tmp_path}/refs.jsonl",
        aws_conn_id=aws_conn_id,
    ).execute(around_now())
    assert [r["name"] for r in read_references(tmp_path / "refs.jsonl")] == ["in__small.jpg"]
    assert result["skipped"] == {"file-size-limit-exceeded": 1}
    assert result["skipped_examples"] == [{"key": "in/huge.jpg", "reason": "file-size-limit-exceeded"}]


def test_interval_bounds_follow_the_objects_last_modified_time(
    tmp_path: Path, s3_client: Any, s3_bucket: str, aws_conn_id: str
) -> None:
    upload(s3_client, s3_bucket, ["in/a.jpg"])
    modified = s3_client.head_object(Bucket=s3_bucket, Key="in/a.jpg")["LastModified"]

    def run(start: datetime, end: datetime) -> dict[str, Any]:
        return S3ReferencesOperator(
            task_id="references",
            bucket=s3_bucket,
            prefix="in/",
            destination=f"file://{tmp_path}/refs.jsonl",
            aws_conn_id=aws_conn_id,
        ).execute({"data_interval_start": start, "data_interval_end": end})

    assert run(modified, modified + timedelta(seconds=1))["count"] == 1
    with pytest.raises(AirflowSkipException):
        run(modified - timedelta(hours=1), modified)


def test_references_go_to_a_private_bucket_atomically(
    s3_client: Any, s3_bucket: str, aws_conn_id: str
) -> None:
    upload(s3_client, s3_bucket, ["in/a.jpg", "in/b.png"])
    private = f"{s3_bucket}-private"
    s3_client.create_bucket(Bucket=private)
    result = S3ReferencesOperator(
        task_id="references",
        bucket=s3_bucket,
        prefix="in/",
        destination=f"s3://{private}/references/run-1.jsonl",
        destination_conn_id=aws_conn_id,
        aws_conn_id=aws_conn_id,
    ).execute(around_now())

    assert result["references_uri"] == f"s3://{private}/references/run-1.jsonl"
    listed = [o["Key"] for o in s3_client.list_objects_v2(Bucket=private).get("Contents", [])]
    assert listed == ["references/run-1.jsonl"]
    body = s3_client.get_object(Bucket=private, Key="references/run-1.jsonl")["Body"].read().decode()
    names = [json.loads(line)["name"] for line in body.splitlines()]
    assert names == ["in__a.jpg", "in__b.png"]


def test_the_listing_captures_each_objects_etag_without_a_request_per_object(
    s3_client: Any, s3_bucket: str
) -> None:
    import hashlib

    from include.roboflow_batch.references.s3 import iter_s3_objects

    contents = upload(s3_client, s3_bucket, KEYS[:3])
    requests_made: list[str] = []
    s3_client.meta.events.register("before-send.s3", lambda request, **_: requests_made.append(request.url))

    listed = {obj.key: obj for obj in iter_s3_objects(s3_client, s3_bucket, "cams/", page_size=2)}

    for key, body in contents.items():
        assert listed[key].content == "s3-etag:" + hashlib.md5(body).hexdigest()  # single part: the MD5
        assert listed[key].size == len(body)
    assert len(requests_made) == 2  # two ListObjectsV2 pages, nothing per object
