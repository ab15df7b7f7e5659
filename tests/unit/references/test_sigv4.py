import datetime as dt
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.auth
import pytest
from botocore.config import Config

from include.roboflow_batch.references.sigv4 import S3GetUrlSigner

KEYS = [
    "a/b c.jpg",
    "ünï/код/写真.PNG",
    "x+y=z&w;v,u$t@s.jpg",
    "~tilde/(1)!*'.jpg",
    "%41already-encoded.jpg",
    "a//b.jpg",
    "emoji🙂.png",
    "question?hash#.jpg",
]


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # botocore and the fast path must sign at the same instant to be comparable.
    fixed = dt.datetime(2026, 11, 28, 12, 0, 0)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: fixed)


def _client(endpoint_url: str | None, region: str, token: str | None = None, **config: object) -> object:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalr/XUtnFEMI+K7MDENG",
        aws_session_token=token,
        config=Config(signature_version="s3v4", **config),
    )


@pytest.mark.parametrize(
    ("endpoint_url", "region", "token"),
    [
        (None, "us-east-1", None),  # AWS, virtual-host addressing
        (None, "eu-west-1", "FwoGZXIvYXdzE/session+token=="),  # STS credentials
        ("http://127.0.0.1:9000", "us-east-1", None),  # MinIO / moto, path addressing
        ("https://account.r2.cloudflarestorage.com", "auto", None),  # Cloudflare R2
    ],
)
@pytest.mark.usefixtures("frozen_clock")
def test_fast_signer_reproduces_botocore_exactly(
    endpoint_url: str | None, region: str, token: str | None
) -> None:
    client = _client(endpoint_url, region, token)
    signer = S3GetUrlSigner(client, "media-bucket", 3600, "wJalr/XUtnFEMI+K7MDENG", probe_prefix="in/")
    assert signer.fast
    for key in KEYS:
        expected = client.generate_presigned_url(
            "get_object", Params={"Bucket": "media-bucket", "Key": key}, ExpiresIn=3600
        )
        assert signer(key) == expected


@pytest.mark.usefixtures("frozen_clock")
def test_wrong_secret_is_detected_and_botocore_signs_instead() -> None:
    client = _client("http://127.0.0.1:9000", "us-east-1")
    signer = S3GetUrlSigner(client, "media-bucket", 3600, "not-the-secret")
    assert not signer.fast
    expected = client.generate_presigned_url(
        "get_object", Params={"Bucket": "media-bucket", "Key": "a.jpg"}, ExpiresIn=3600
    )
    assert signer("a.jpg") == expected


def test_a_non_sigv4_client_is_signed_by_botocore() -> None:
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9000",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(signature_version="s3"),
    )
    signer = S3GetUrlSigner(client, "media-bucket", 3600, "secret")
    assert not signer.fast
    assert "Signature=" in signer("a.jpg")


def test_all_urls_share_one_signing_time_and_expiry() -> None:
    signer = S3GetUrlSigner(
        _client("http://127.0.0.1:9000", "us-east-1"), "media-bucket", 900, "wJalr/XUtnFEMI+K7MDENG"
    )
    queries = [parse_qs(urlsplit(signer(f"k{i}.jpg")).query) for i in range(50)]
    assert {q["X-Amz-Date"][0] for q in queries} == {queries[0]["X-Amz-Date"][0]}
    assert {q["X-Amz-Expires"][0] for q in queries} == {"900"}
