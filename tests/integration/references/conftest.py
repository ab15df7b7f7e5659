"""Connections and buckets on the session's moto server and GCS emulator."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from include.devstack.connections import gcp_connection, new_service_account

AWS_CONN_ID = "aws_moto_references"
GCS_CONN_ID = "gcs_emulator_references"
GCS_SIGNER_CONN_ID = "gcs_signer_references"
ACCESS_KEY, SECRET_KEY = "testing", "testing"


@pytest.fixture
def aws_conn_id(moto_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    connection = {
        "conn_type": "aws",
        "login": ACCESS_KEY,
        "password": SECRET_KEY,
        "extra": {"endpoint_url": moto_server.url, "region_name": "us-east-1"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", json.dumps(connection))
    return AWS_CONN_ID


@pytest.fixture
def s3_client(moto_server: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=moto_server.url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(signature_version="s3v4"),
    )


def _bucket_name() -> str:
    return f"refs-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_bucket(s3_client: Any) -> str:
    name = _bucket_name()
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def gcs_signer(gcs_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Anonymous storage I/O against the emulator; URLs signed by a locally generated key.

    A connection holding the key must never make storage calls: it would try to fetch an OAuth
    token from Google and hang. In production one connection usually does both.
    """
    info, public_key = new_service_account()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.url)
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{GCS_CONN_ID.upper()}",
        gcp_connection({"is_anonymous": True, "project": "test-project"}),
    )
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{GCS_SIGNER_CONN_ID.upper()}",
        gcp_connection({"keyfile_dict": json.dumps(info), "project": "test-project"}),
    )
    return public_key


@pytest.fixture
def gcs_bucket(gcs_signer: Any) -> Iterator[Any]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="test-project", credentials=AnonymousCredentials())
    yield client.create_bucket(_bucket_name())
