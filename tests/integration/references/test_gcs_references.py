import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from airflow.sdk.exceptions import AirflowSkipException

from include.roboflow_batch.operators.references import GCSReferencesOperator
from include.roboflow_batch.references.naming import key_for_name
from tests.integration.references.conftest import GCS_CONN_ID, GCS_SIGNER_CONN_ID
from tests.unit.references.signatures import gcs_v4_signature_is_valid

pytestmark = pytest.mark.integration

KEYS = [
    "drone/2026/03/01/img 001.jpg",
    "drone/2026/03/01/IMG-002.PNG",
    "drone/ñandú/写真.webp",
    "drone/x_y.jpeg",
]


def around_now() -> dict[str, datetime]:
    now = datetime.now(UTC)
    return {"data_interval_start": now - timedelta(hours=1), "data_interval_end": now + timedelta(hours=1)}


def operator(bucket: str, destination: str, **kwargs: Any) -> GCSReferencesOperator:
    options = {
        "task_id": "references",
        "bucket": bucket,
        "prefix": "drone/",
        "destination": destination,
        "gcp_conn_id": GCS_CONN_ID,
        "signing_conn_id": GCS_SIGNER_CONN_ID,
    } | kwargs
    return GCSReferencesOperator(**options)


def test_every_signed_url_serves_the_exact_bytes_and_verifies_with_the_public_key(
    tmp_path: Path, gcs_bucket: Any, gcs_signer: Any
) -> None:
    contents = {key: os.urandom(64) + key.encode() for key in [*KEYS, "drone/readme.md", "elsewhere/a.jpg"]}
    for key, body in contents.items():
        gcs_bucket.blob(key).upload_from_string(body)

    result = operator(gcs_bucket.name, f"file://{tmp_path}/refs.jsonl", page_size=2, expiry=3600).execute(
        around_now()
    )

    references = [json.loads(line) for line in (tmp_path / "refs.jsonl").read_text().splitlines()]
    assert sorted(key_for_name(r["name"]) for r in references) == sorted(KEYS)
    for reference in references:
        url = reference["url"]
        response = requests.get(url, timeout=10)
        assert response.status_code == 200
        assert response.content == contents[key_for_name(reference["name"])]
        assert gcs_v4_signature_is_valid(url, gcs_signer)
        assert parse_qs(urlsplit(url).query)["X-Goog-Expires"] == ["3600"]
    assert result["count"] == len(KEYS)
    assert result["source"] == f"gs://{gcs_bucket.name}/drone/"
    assert "X-Goog" not in json.dumps(result)


def test_an_interval_without_new_objects_is_skipped(tmp_path: Path, gcs_bucket: Any) -> None:
    gcs_bucket.blob("drone/a.jpg").upload_from_string(b"a")
    past = datetime.now(UTC) - timedelta(days=1)
    with pytest.raises(AirflowSkipException, match="no new images"):
        operator(gcs_bucket.name, f"file://{tmp_path}/refs.jsonl").execute(
            {"data_interval_start": past - timedelta(hours=1), "data_interval_end": past}
        )
    assert not (tmp_path / "refs.jsonl").exists()


def test_credentials_that_cannot_sign_fail_with_a_clear_message(tmp_path: Path, gcs_bucket: Any) -> None:
    gcs_bucket.blob("drone/a.jpg").upload_from_string(b"a")
    op = operator(gcs_bucket.name, f"file://{tmp_path}/refs.jsonl", signing_conn_id=None)
    with pytest.raises(ValueError, match="anonymous and cannot sign URLs"):
        op.execute(around_now())


def test_the_listing_captures_each_objects_md5_without_a_request_per_object(gcs_bucket: Any) -> None:
    import base64
    import hashlib

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from include.roboflow_batch.references.gcs import iter_gcs_objects

    contents = {key: os.urandom(32) + key.encode() for key in KEYS[:2]}
    for key, body in contents.items():
        gcs_bucket.blob(key).upload_from_string(body)
    client = storage.Client(project="test-project", credentials=AnonymousCredentials())
    listed = {obj.key: obj for obj in iter_gcs_objects(client, gcs_bucket.name, "drone/")}

    for key, body in contents.items():
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        assert listed[key].content == "gcs-md5:" + md5 and listed[key].size == len(body)
