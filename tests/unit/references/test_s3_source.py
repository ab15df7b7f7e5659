from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from unittest import mock

import boto3
import pytest
from botocore.config import Config
from botocore.credentials import Credentials, RefreshableCredentials
from moto import mock_aws

from include.roboflow_batch.references.s3 import (
    credentials_expire_at,
    iso_timestamp,
    iter_s3_objects,
    signing_config,
)


def test_signing_config_forces_sigv4_and_keeps_connection_settings() -> None:
    config = signing_config(
        Config(retries={"max_attempts": 7}, signature_version="s3"), disable_flexible_checksums=False
    )
    assert config.signature_version == "s3v4"
    assert config.retries == {"max_attempts": 7}


def test_flexible_checksums_can_be_turned_off() -> None:
    config = signing_config(None, disable_flexible_checksums=True)
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"


def test_long_lived_keys_have_no_expiry() -> None:
    session = SimpleNamespace(get_credentials=lambda: Credentials("AKID", "secret"))
    assert credentials_expire_at(session) == ("AKID", "secret", None)


def test_temporary_credentials_report_their_expiry() -> None:
    expires = datetime.now(UTC) + timedelta(hours=1)
    credentials = RefreshableCredentials.create_from_metadata(
        {"access_key": "ASIA", "secret_key": "secret", "token": "tok", "expiry_time": expires.isoformat()},
        refresh_using=lambda: {},
        method="sts-assume-role",
    )
    session = SimpleNamespace(get_credentials=lambda: credentials)
    _, secret, expiry = credentials_expire_at(session)
    assert secret == "secret"
    assert abs((expiry - expires).total_seconds()) < 1


def test_no_credentials_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no credentials"):
        credentials_expire_at(SimpleNamespace(get_credentials=lambda: None))


@mock_aws
def test_listing_walks_every_page_under_the_prefix() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="media")
    for i in range(25):
        client.put_object(Bucket="media", Key=f"in/{i:02d}.jpg", Body=b"x" * (i + 1))
    client.put_object(Bucket="media", Key="out/skip.jpg", Body=b"x")
    objects = list(iter_s3_objects(client, "media", "in/", page_size=10))
    assert [o.key for o in objects] == [f"in/{i:02d}.jpg" for i in range(25)]
    assert [o.size for o in objects] == list(range(1, 26))
    assert all(o.last_modified.tzinfo is not None for o in objects)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T04:00:00.000Z", datetime(2026, 3, 1, 4, tzinfo=UTC)),
        ("2026-03-01T04:00:00Z", datetime(2026, 3, 1, 4, tzinfo=UTC)),
        ("2026-03-01T05:00:00+01:00", datetime(2026, 3, 1, 4, tzinfo=UTC)),
        ("2026-03-01T04:00:00", datetime(2026, 3, 1, 4, tzinfo=UTC)),
        ("Sun, 01 Mar 2026 04:00:00 GMT", datetime(2026, 3, 1, 4, tzinfo=UTC)),
    ],
)
def test_listing_timestamps_parse_to_aware_datetimes(text: str, expected: datetime) -> None:
    parsed = iso_timestamp(text)
    assert parsed == expected
    assert parsed.tzinfo is not None


def test_the_listing_client_reads_timestamps_with_the_fast_parser() -> None:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from include.roboflow_batch.references.s3 import s3_session_and_client

    with (
        mock_aws(),
        mock.patch("include.roboflow_batch.references.s3.iso_timestamp", wraps=iso_timestamp) as parser,
    ):
        _, client = s3_session_and_client(S3Hook(aws_conn_id=None), disable_flexible_checksums=False)
        client.create_bucket(Bucket="media")
        client.put_object(Bucket="media", Key="a.jpg", Body=b"x")
        objects = list(iter_s3_objects(client, "media"))
    assert objects[0].last_modified.tzinfo is not None
    assert parser.called
