"""Signed URLs for the emulator's own storage routes (uploads and downloads).

A URL carries its expiry and an HMAC of method, path and expiry; anything else, or a late
request, is refused with 403 as cloud storage would.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import urlencode

EXPIRES_PARAM = "X-Emulator-Expires"
SIGNATURE_PARAM = "X-Emulator-Signature"


class SignatureError(Exception):
    """The URL is expired, unsigned or its signature does not match."""


class UrlSigner:
    def __init__(self, base_url: str, secret: bytes | None = None) -> None:
        self._base_url = base_url.rstrip("/")
        self._secret = secret or secrets.token_bytes(32)

    def _digest(self, method: str, path: str, expires: int) -> str:
        message = f"{method.upper()}\n{path}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, method: str, path: str, ttl_seconds: float) -> str:
        """Absolute URL for `path` valid for `ttl_seconds` with the given method."""
        expires = int(time.time() + ttl_seconds)
        query = urlencode({EXPIRES_PARAM: expires, SIGNATURE_PARAM: self._digest(method, path, expires)})
        return f"{self._base_url}{path}?{query}"

    def verify(self, method: str, path: str, query: dict[str, str]) -> None:
        expires_raw = query.get(EXPIRES_PARAM)
        signature = query.get(SIGNATURE_PARAM)
        if not expires_raw or not signature:
            raise SignatureError("The URL is not signed.")
        try:
            expires = int(expires_raw)
        except ValueError as exc:
            raise SignatureError("The URL expiry is not a number.") from exc
        if not hmac.compare_digest(signature, self._digest(method, path, expires)):
            raise SignatureError("The request signature does not match.")
        if time.time() > expires:
            raise SignatureError("The signed URL has expired.")
