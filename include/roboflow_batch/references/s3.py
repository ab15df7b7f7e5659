"""S3 and S3-compatible stores (AWS, R2, B2, MinIO, moto): listing, signing client, credential lifetime."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.utils import parse_timestamp

from include.roboflow_batch.content.identity import s3_content
from include.roboflow_batch.references.objects import StoredObject
from include.roboflow_batch.references.prefetch import prefetched

if TYPE_CHECKING:
    import boto3
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

log = logging.getLogger(__name__)


def signing_config(base: Config | None, *, disable_flexible_checksums: bool) -> Config:
    """The connection's botocore config, forced to SigV4 (custom endpoints otherwise default to SigV2).

    ``disable_flexible_checksums`` keeps botocore from adding CRC checksum parameters that some
    S3-compatible stores (Cloudflare R2 among them) reject.
    """
    extra: dict[str, Any] = {"signature_version": "s3v4"}
    if disable_flexible_checksums:
        extra["request_checksum_calculation"] = "when_required"
        extra["response_checksum_validation"] = "when_required"
    return (base or Config()).merge(Config(**extra))


def iso_timestamp(value: str) -> datetime:
    """Parse an S3 timestamp (ISO 8601, e.g. ``2026-03-01T04:00:00.000Z``) as an aware datetime.

    botocore's default parser goes through dateutil and costs about four times as much as the
    rest of a listing page's parsing; ``fromisoformat`` reads S3's format directly.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return parse_timestamp(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def use_fast_timestamps(session: boto3.Session) -> None:
    """Make clients created from ``session`` from now on parse timestamps with iso_timestamp.

    The setting belongs to this session only (the hook builds a new one per call).
    """
    factory = session._session.get_component("response_parser_factory")
    factory.set_parser_defaults(timestamp_parser=iso_timestamp)


def s3_session_and_client(hook: S3Hook, *, disable_flexible_checksums: bool) -> tuple[boto3.Session, Any]:
    """A boto3 session from the Airflow connection and an S3 client on it (with endpoint_url, region)."""
    session = hook.get_session()
    use_fast_timestamps(session)
    client = session.client(
        "s3",
        endpoint_url=hook.conn_config.get_service_endpoint_url("s3"),
        region_name=hook.conn_config.region_name,
        config=signing_config(
            hook.conn_config.botocore_config, disable_flexible_checksums=disable_flexible_checksums
        ),
        verify=hook.verify,
    )
    return session, client


def credentials_expire_at(session: boto3.Session) -> tuple[str, str, datetime | None]:
    """(access key, secret key, expiry) of the session's credentials; expiry None for long-lived keys."""
    credentials = session.get_credentials()
    if credentials is None:
        raise ValueError("the AWS connection resolves to no credentials, so no URL can be signed")
    frozen = credentials.get_frozen_credentials()
    # botocore keeps the expiry of refreshable (STS, SSO, instance-role) credentials privately.
    expiry = getattr(credentials, "_expiry_time", None)
    if expiry is not None and expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=UTC)
    if expiry is None and frozen.token:
        log.warning(
            "The AWS credentials carry a session token of unknown lifetime: the signed URLs stop working "
            "when that session expires, which may be before their own expiry"
        )
    return frozen.access_key, frozen.secret_key, expiry


def iter_s3_objects(
    client: Any, bucket: str, prefix: str = "", *, page_size: int = 1000, prefetch: int = 2
) -> Iterator[StoredObject]:
    """Every object under ``prefix``, page by page (ListObjectsV2), never holding the whole listing.

    Each object's ETag (in every ListObjectsV2 entry) is its content identity: no request per object.
    """

    def pages() -> Iterator[list[StoredObject]]:
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}
        ):
            yield [
                StoredObject(c["Key"], c["Size"], c["LastModified"], s3_content(c.get("ETag")))
                for c in page.get("Contents", ())
            ]

    for page in prefetched(pages(), depth=prefetch):
        yield from page


def head_s3_objects(client: Any, bucket: str, keys: Sequence[str]) -> tuple[list[StoredObject], list[str]]:
    """The objects of ``keys`` that exist (HeadObject each), and the keys that do not."""
    from botocore.exceptions import ClientError

    found: list[StoredObject] = []
    missing: list[str] = []
    for key in keys:
        try:
            head = client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) not in ("404", "NoSuchKey", "NotFound"):
                raise
            missing.append(key)
            continue
        found.append(StoredObject(key, int(head["ContentLength"]), head["LastModified"]))
    return found, missing
