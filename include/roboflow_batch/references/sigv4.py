"""SigV4 query signing of many S3 GET URLs, seeded and checked by botocore.

``generate_presigned_url`` re-resolves the endpoint and rebuilds the request for every key,
which caps it at a few thousand URLs per second. For one bucket, one signing time and one
expiry, only the key changes between URLs, so this signer asks botocore for one URL, keeps
everything but the key path and the signature as a template, and computes the remaining
canonical request, string to sign and HMAC per key (the AWS SigV4 query-string algorithm).
It first re-signs botocore's own probe URL and compares the whole string; on any difference
(an unusual endpoint, addressing style or signer) it falls back to botocore for every key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote, urlsplit

log = logging.getLogger(__name__)

_SIGNATURE_PARAM = "&X-Amz-Signature="
PROBE_KEY_NAME = "probe ä+~!'()*=&,;$@.jpg"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _quote_key(key: str) -> str:
    # botocore's percent_encode for the S3 `Key+` URI label.
    return quote(key, safe="/~")


class _Template:
    """The parts of a botocore presigned URL that do not depend on the key."""

    def __init__(self, url: str, key: str, secret_key: str) -> None:
        head, sep, signature = url.rpartition(_SIGNATURE_PARAM)
        if not sep or "&" in signature:
            raise ValueError("the presigned URL does not end with its SigV4 signature")
        parts = urlsplit(head)
        quoted_key = _quote_key(key)
        if not parts.path.endswith(quoted_key):
            raise ValueError("the presigned URL path does not end with the quoted key")
        self.prefix = f"{parts.scheme}://{parts.netloc}{parts.path[: -len(quoted_key)]}"
        self.query = parts.query
        pairs = sorted(tuple(pair.partition("=")[::2]) for pair in parts.query.split("&"))
        self.canonical_query = "&".join(f"{name}={value}" for name, value in pairs)
        params: dict[str, str] = {name: value for name, value in pairs}
        if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or params.get("X-Amz-SignedHeaders") != "host":
            raise ValueError("the presigned URL is not a SigV4 query signature over the host header")
        self.timestamp = params["X-Amz-Date"]
        credential = unquote(params["X-Amz-Credential"])
        _access_key, date, region, service, terminator = credential.rsplit("/", 4)
        self.scope = f"{date}/{region}/{service}/{terminator}"
        self.host = parts.netloc
        signing_key = _hmac(f"AWS4{secret_key}".encode(), date)
        for step in (region, service, terminator):
            signing_key = _hmac(signing_key, step)
        self.signing_key = signing_key
        self.path_prefix = parts.path[: -len(quoted_key)]

    def sign(self, key: str) -> str:
        quoted_key = _quote_key(key)
        canonical_request = (
            f"GET\n{self.path_prefix}{quoted_key}\n{self.canonical_query}\n"
            f"host:{self.host}\n\nhost\nUNSIGNED-PAYLOAD"
        )
        string_to_sign = (
            f"AWS4-HMAC-SHA256\n{self.timestamp}\n{self.scope}\n"
            f"{hashlib.sha256(canonical_request.encode('utf-8')).hexdigest()}"
        )
        signature = hmac.new(self.signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        return f"{self.prefix}{quoted_key}?{self.query}{_SIGNATURE_PARAM}{signature}"


class S3GetUrlSigner:
    """Signs GET URLs for keys of one bucket with one expiry; ``signer(key) -> url``."""

    def __init__(
        self, client: Any, bucket: str, expires_in: int, secret_key: str, probe_prefix: str = ""
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._expires_in = expires_in
        self.fast = False
        self._sign: Callable[[str], str] = self._sign_with_botocore
        probe_key = f"{probe_prefix}{PROBE_KEY_NAME}"
        reference = self._sign_with_botocore(probe_key)
        try:
            template = _Template(reference, probe_key, secret_key)
        except (ValueError, KeyError) as err:
            log.info("Signing every URL with botocore: %s", err)
            return
        if template.sign(probe_key) != reference:
            log.warning("Signing every URL with botocore: the fast signer does not reproduce its URL")
            return
        self.fast = True
        self._sign = template.sign

    def _sign_with_botocore(self, key: str) -> str:
        return self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=self._expires_in
        )

    def __call__(self, key: str) -> str:
        return self._sign(key)
