"""Google Cloud Storage: listing through the GCSHook client, V4 signing with a key or IAM signBlob."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import google.auth.credentials
import google.auth.transport.requests

from include.roboflow_batch.content.identity import gcs_content
from include.roboflow_batch.references.gcs_parallel import ParallelGCSSigner
from include.roboflow_batch.references.gcs_v4 import TemplateSigner, checked_template, signing_key_of
from include.roboflow_batch.references.objects import StoredObject
from include.roboflow_batch.references.prefetch import prefetched

# Refresh the access token used for signBlob this long before it expires.
_TOKEN_MARGIN = timedelta(minutes=5)


# Only what a reference and its content identity need: smaller pages from GCS, less JSON to parse.
LISTING_FIELDS = "items(name,size,updated,md5Hash,crc32c),nextPageToken"


def iter_gcs_objects(
    client: Any, bucket: str, prefix: str = "", *, page_size: int = 1000, prefetch: int = 2
) -> Iterator[StoredObject]:
    """Every object under ``prefix``, page by page, never holding the whole listing.

    Objects are read from each page's JSON, not built into ``Blob`` objects (which costs more
    than parsing the page itself).
    """

    def pages() -> Iterator[list[StoredObject]]:
        blobs = client.list_blobs(bucket, prefix=prefix or None, page_size=page_size, fields=LISTING_FIELDS)
        for page in blobs.pages:
            yield [_stored_object(item) for item in page.raw_page.get("items", ())]

    for page in prefetched(pages(), depth=prefetch):
        yield from page


def get_gcs_objects(client: Any, bucket: str, keys: Sequence[str]) -> tuple[list[StoredObject], list[str]]:
    """The objects of ``keys`` that exist (one metadata read each), and the keys that do not."""
    found: list[StoredObject] = []
    missing: list[str] = []
    source = client.bucket(bucket)
    for key in keys:
        blob = source.get_blob(key)
        if blob is None:
            missing.append(key)
            continue
        updated = blob.updated
        found.append(
            StoredObject(key, int(blob.size or 0), updated if updated.tzinfo else updated.replace(tzinfo=UTC))
        )
    return found, missing


def _stored_object(item: dict[str, Any]) -> StoredObject:
    name = item.get("name")
    if not isinstance(name, str):
        raise ValueError(f"GCS listing returned an object without a name: {str(item)[:200]}")
    try:
        updated = datetime.fromisoformat(item["updated"])
        size = int(item.get("size") or 0)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(
            f"GCS listing returned object {name!r} without a valid size and updated time"
        ) from exc
    content = gcs_content(name, item.get("md5Hash"), item.get("crc32c"))
    return StoredObject(name, size, updated if updated.tzinfo else updated.replace(tzinfo=UTC), content)


class GCSGetUrlSigner:
    """Signs V4 GET URLs for keys of one bucket; ``signer(key) -> url``.

    Credentials holding a private key (a key file) sign locally. Other credentials (application
    default credentials on GCE/GKE, user credentials) sign through IAM signBlob as
    ``service_account_email`` with their access token: one IAM call per URL, which needs
    ``roles/iam.serviceAccountTokenCreator`` on that service account.
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        expiry: timedelta,
        credentials: google.auth.credentials.Credentials,
        service_account_email: str | None = None,
    ) -> None:
        self._bucket = client.bucket(bucket)
        self._expiry = expiry
        self._credentials = credentials
        self._email = service_account_email
        self.uses_sign_blob = service_account_email is not None or not isinstance(
            credentials, google.auth.credentials.Signing
        )
        if isinstance(credentials, google.auth.credentials.AnonymousCredentials):
            raise ValueError(
                "the GCP connection is anonymous and cannot sign URLs: sign with a connection holding a "
                "service-account key (signing_conn_id), or set service_account_email to sign through IAM "
                "signBlob with non-anonymous credentials"
            )
        if self.uses_sign_blob:
            self._refresh_token()
            self._email = self._email or getattr(credentials, "service_account_email", None)
            if not self._email or self._email == "default":
                raise ValueError(
                    "the GCP credentials hold no private key, so URLs must be signed through IAM signBlob: "
                    "set service_account_email to the service account to sign as"
                )

        # With a local key, URLs are made from a template the library's own URL checked; the
        # library signs each key itself only when that check fails (an unusual endpoint).
        self._parallel: ParallelGCSSigner | None = None
        self._local: TemplateSigner | None = None
        key = None if self.uses_sign_blob else signing_key_of(credentials)
        template = (
            None if key is None else checked_template(key, self._bucket.name, expiry, client.api_endpoint)
        )
        if key is not None and template is not None:
            self._local = TemplateSigner(key, template)
            self._parallel = ParallelGCSSigner(key, template)

    @property
    def signs_in_parallel(self) -> bool:
        return self._parallel is not None

    def sign_many(self, keys: Iterable[str]) -> Iterator[str]:
        """URLs for ``keys`` in order: on every core with a local key, else one by one (signBlob is I/O)."""
        if self._parallel is None:
            return map(self, keys)
        return self._parallel.sign_many(keys)

    def close(self) -> None:
        if self._parallel is not None:
            self._parallel.close()

    def _refresh_token(self) -> None:
        expiry = getattr(self._credentials, "expiry", None)
        if self._credentials.token:
            if expiry is None:
                return
            expiry = expiry.replace(tzinfo=UTC) if expiry.tzinfo is None else expiry
            if expiry - datetime.now(UTC) > _TOKEN_MARGIN:
                return
        self._credentials.refresh(google.auth.transport.requests.Request())

    def __call__(self, key: str) -> str:
        if self._local is not None:
            return self._local(key)
        blob = self._bucket.blob(key)
        if not self.uses_sign_blob:
            return blob.generate_signed_url(
                version="v4", expiration=self._expiry, method="GET", credentials=self._credentials
            )
        self._refresh_token()
        return blob.generate_signed_url(
            version="v4",
            expiration=self._expiry,
            method="GET",
            credentials=self._credentials,
            service_account_email=self._email,
            access_token=self._credentials.token,
        )
