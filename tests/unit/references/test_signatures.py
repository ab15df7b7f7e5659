"""The checkers used by the integration tests must themselves catch a bad signature."""

from datetime import timedelta

import boto3
from botocore.config import Config
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.oauth2 import service_account

from include.devstack.connections import new_service_account
from tests.unit.references.signatures import gcs_v4_signature_is_valid, sigv4_signature_is_valid


def test_sigv4_checker_accepts_botocore_urls_and_rejects_tampering() -> None:
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9000",
        region_name="us-east-1",
        aws_access_key_id="AKID",
        aws_secret_access_key="secret",
        config=Config(signature_version="s3v4"),
    )
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": "bkt", "Key": "a b/ü.jpg"}, ExpiresIn=600
    )
    assert sigv4_signature_is_valid(url, "AKID", "secret")
    assert not sigv4_signature_is_valid(url, "AKID", "other-secret")
    assert not sigv4_signature_is_valid(url.replace("%C3%BC.jpg", "x.jpg"), "AKID", "secret")
    assert not sigv4_signature_is_valid(
        url.replace("X-Amz-Expires=600", "X-Amz-Expires=604800"), "AKID", "secret"
    )


def test_gcs_checker_accepts_v4_urls_and_rejects_tampering() -> None:
    info, public_key = new_service_account()
    credentials = service_account.Credentials.from_service_account_info(info)
    bucket = storage.Client(project="p", credentials=AnonymousCredentials()).bucket("bkt")
    url = bucket.blob("a b/ü.jpg").generate_signed_url(
        version="v4", expiration=timedelta(hours=1), method="GET", credentials=credentials
    )
    assert gcs_v4_signature_is_valid(url, public_key)
    _, other_key = new_service_account()
    assert not gcs_v4_signature_is_valid(url, other_key)
    assert not gcs_v4_signature_is_valid(
        url.replace("X-Goog-Expires=3600", "X-Goog-Expires=7200"), public_key
    )
