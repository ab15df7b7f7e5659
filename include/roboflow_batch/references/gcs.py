"""Google Cloud Storage: listing through the GCSHook client, V4 signing with a key or IAM signBlob."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import google.auth.credentials
import google.auth.transport.requests

from include.roboflow_batch.references.gcs_parallel import ParallelGCSSigner, signing_key_of
from include.roboflow_batch.references.objects import StoredObject
from include.roboflow_batch.references.prefetch import prefetched

# Refresh the access token used for signBlob this long before it expires.
_TOKEN_MARGIN = timedelta(minutes=5)


def iter_gcs_objects(
    client: Any, bucket: str, prefix: str = "", *, page_size: int = 1000, prefetch: int = 2
) -> Iterator[StoredObject]:
    """Every object under ``prefix``, page by page, never holding the whole listing."""

    def pages() -> Iterator[list[StoredObject]]:
        blobs = client.list_blobs(bucket, prefix=prefix or None, page_size=page_size)
        for page in blobs.pages:
            yield [StoredObject(b.name, int(b.size or 0), b.updated) for b in page]

    for page in prefetched(pages(), depth=prefetch):
        yield from page


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

        self._parallel: ParallelGCSSigner | None = None
        key = None if self.uses_sign_blob else signing_key_of(credentials)
        if key is not None:
            self._parallel = ParallelGCSSigner(key, self._bucket.name, expiry, client.api_endpoint)

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
