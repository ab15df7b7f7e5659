"""Independent checks of signed URLs, since neither moto nor the GCS emulator checks signatures."""

from __future__ import annotations

import datetime as dt
import hashlib
from unittest import mock
from urllib.parse import parse_qsl, unquote, urlsplit

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def sigv4_signature_is_valid(url: str, access_key: str, secret_key: str) -> bool:
    """Re-sign the URL's request with botocore's own SigV4 query signer and compare signatures."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    url_access_key, _date, region, service, _terminator = params["X-Amz-Credential"].split("/")
    if url_access_key != access_key:
        return False
    signed_at = dt.datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    request = AWSRequest(method="GET", url=f"{parts.scheme}://{parts.netloc}{parts.path}")
    signer = S3SigV4QueryAuth(
        Credentials(access_key, secret_key, params.get("X-Amz-Security-Token")),
        service,
        region,
        expires=int(params["X-Amz-Expires"]),
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=signed_at):
        signer.add_auth(request)
    expected = dict(parse_qsl(urlsplit(request.url).query))["X-Amz-Signature"]
    return expected == params["X-Amz-Signature"]


def gcs_v4_signature_is_valid(url: str, public_key: rsa.RSAPublicKey) -> bool:
    """Rebuild the V4 canonical request from the URL and verify its RSA-SHA256 signature."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    params = dict(pairs)
    signature = bytes.fromhex(params.pop("X-Goog-Signature"))
    encoded = [pair for pair in parts.query.split("&") if not pair.startswith("X-Goog-Signature=")]
    canonical_query = "&".join(sorted(encoded))
    canonical_request = "\n".join(
        ["GET", parts.path, canonical_query, f"host:{parts.netloc}", "", "host", "UNSIGNED-PAYLOAD"]
    )
    scope = unquote(params["X-Goog-Credential"]).split("/", 1)[1]
    string_to_sign = "\n".join(
        [
            params["X-Goog-Algorithm"],
            params["X-Goog-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    try:
        public_key.verify(signature, string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return False
    return True
