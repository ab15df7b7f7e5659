"""GCS V4 GET URLs for many keys, from one URL the storage library signed.

``generate_signed_url_v4`` rebuilds every part of the request for each key (time, scope, headers,
query) and spends about a fifth as long as the RSA signature itself on that. For one bucket, one
signing time and one expiry only the key changes, so the library signs one probe key, everything
but the key path and the signature is kept as a template, and each key costs one SHA-256 of its
canonical request and one RSA-SHA256 (PKCS#1 v1.5) signature, as in the library. PKCS#1 v1.5 is
deterministic: the template must reproduce the library's probe URL byte for byte, or it is not used.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any
from urllib.parse import quote, urlsplit

# Characters quoted differently by careless encoders, and a non-ASCII one.
PROBE_KEY = "probe/ä +~!'()*=&,;$@#%.jpg"
_SIGNATURE_PARAM = "&X-Goog-Signature="


def quote_key(key: str) -> str:
    """The key as the storage library puts it in the URL path (``Blob`` quotes with ``safe="/~"``)."""
    return quote(key, safe="/~")


@dataclass(frozen=True)
class V4Template:
    """The parts of a V4 GET URL of one bucket that do not depend on the key."""

    url_prefix: str  # scheme://host[/path]/bucket/
    resource_prefix: str  # /bucket/
    query: str  # the canonical query: the URL's query without the signature
    host: str
    timestamp: str
    scope: str

    @classmethod
    def from_url(cls, url: str, bucket: str, key: str) -> V4Template:
        """Split a library-made URL of ``key``; ValueError when it is not a plain V4 GET URL."""
        head, sep, signature = url.rpartition(_SIGNATURE_PARAM)
        if not sep or "&" in signature:
            raise ValueError("the signed URL does not end with its V4 signature")
        base, _, query = head.partition("?")
        suffix = f"/{bucket}/{quote_key(key)}"
        if not base.endswith(suffix):
            raise ValueError("the signed URL path does not end with the bucket and the quoted key")
        params = dict(pair.partition("=")[::2] for pair in query.split("&"))
        if (
            params.get("X-Goog-Algorithm") != "GOOG4-RSA-SHA256"
            or params.get("X-Goog-SignedHeaders") != "host"
        ):
            raise ValueError("the signed URL is not a V4 RSA signature over the host header alone")
        credential = params["X-Goog-Credential"].replace("%2F", "/")
        _email, _, scope = credential.partition("/")
        return cls(
            url_prefix=base[: -len(suffix)] + f"/{bucket}/",
            resource_prefix=f"/{bucket}/",
            query=query,
            host=urlsplit(base).netloc,
            timestamp=params["X-Goog-Date"],
            scope=scope,
        )

    @cached_property
    def _request_tail(self) -> str:
        return f"\n{self.query}\nhost:{self.host}\n\nhost\nUNSIGNED-PAYLOAD"

    def string_to_sign(self, quoted_key: str) -> bytes:
        canonical_request = f"GET\n{self.resource_prefix}{quoted_key}{self._request_tail}"
        digest = hashlib.sha256(canonical_request.encode("ascii")).hexdigest()
        return f"GOOG4-RSA-SHA256\n{self.timestamp}\n{self.scope}\n{digest}".encode("ascii")

    def url(self, quoted_key: str, signature: bytes) -> str:
        return f"{self.url_prefix}{quoted_key}?{self.query}{_SIGNATURE_PARAM}{signature.hex()}"


class SigningKey:
    """A service account's private key (PEM): picklable for worker processes, and never printed."""

    def __init__(self, private_key_pem: bytes, email: str, universe_domain: str) -> None:
        self.private_key_pem = private_key_pem
        self.email = email
        self.universe_domain = universe_domain

    def __repr__(self) -> str:
        return f"SigningKey(email={self.email!r})"

    def credentials(self) -> Any:
        from google.auth.crypt import RSASigner
        from google.oauth2 import service_account

        signer = RSASigner.from_string(self.private_key_pem)
        return service_account.Credentials(  # type: ignore[no-untyped-call]
            signer, self.email, "", universe_domain=self.universe_domain
        )


def signing_key_of(credentials: Any) -> SigningKey | None:
    """The private key of service-account credentials that sign locally; None for any other kind."""
    from cryptography.hazmat.primitives import serialization

    signer = getattr(credentials, "signer", None)
    # google-auth keeps the cryptography key on its signer, or (2.4x and later) on the signer's _impl.
    key = getattr(signer, "_key", None) or getattr(getattr(signer, "_impl", None), "_key", None)
    email = getattr(credentials, "signer_email", None) or getattr(credentials, "service_account_email", None)
    if key is None or not hasattr(key, "private_bytes") or not email:
        return None
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SigningKey(pem, email, getattr(credentials, "universe_domain", "googleapis.com"))


class TemplateSigner:
    """``signer(key) -> url``: the template's URL of ``key``, signed with the private key."""

    def __init__(self, key: SigningKey, template: V4Template) -> None:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        private_key = serialization.load_pem_private_key(key.private_key_pem, password=None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError("the service account's private key is not an RSA key")
        self._sign = private_key.sign
        self._padding = padding.PKCS1v15()
        self._hash = hashes.SHA256()
        self.template = template

    def __call__(self, key: str) -> str:
        quoted = quote_key(key)
        signature = self._sign(self.template.string_to_sign(quoted), self._padding, self._hash)
        return self.template.url(quoted, signature)


def library_url(key: SigningKey, bucket: str, object_key: str, expiry: timedelta, endpoint: str) -> str:
    """The storage library's own V4 GET URL of ``object_key``, signed now."""
    from google.cloud.storage._signing import generate_signed_url_v4

    return str(
        generate_signed_url_v4(
            key.credentials(),
            resource=f"/{bucket}/{quote_key(object_key)}",
            expiration=expiry,
            api_access_endpoint=endpoint,
            method="GET",
            universe_domain=key.universe_domain,
        )
    )


def checked_template(key: SigningKey, bucket: str, expiry: timedelta, endpoint: str) -> V4Template | None:
    """The template for URLs signed now, if it reproduces the library's probe URL exactly; else None."""
    expected = library_url(key, bucket, PROBE_KEY, expiry, endpoint)
    try:
        template = V4Template.from_url(expected, bucket, PROBE_KEY)
    except (ValueError, KeyError):
        return None
    return template if TemplateSigner(key, template)(PROBE_KEY) == expected else None
