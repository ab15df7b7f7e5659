"""Removing secrets from text: the API key and the signature parts of signed URLs.

The API key travels as the ``api_key`` query parameter and signed URLs are bearer tokens, so any
URL, error body or log line may carry one. ``redact`` is applied to every message this package
builds; ``install_log_redaction`` does the same for the records httpx and httpcore log themselves.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "***"

# Query parameters whose values are secrets (case-insensitive): the API key, and the signing
# parameters of S3 (X-Amz-*), GCS (X-Goog-*), Azure SAS (sig), CloudFront (Signature, Expires) and
# the emulator (X-Emulator-Signature, X-Emulator-Expires): any name ending in signature,
# credential, security-token or expires.
_SECRET_NAME = r"(?:api_key|sig|token|(?:[A-Za-z0-9_]+-)*(?:signature|credential|security-token|expires))"
_QUERY_SECRET = re.compile(
    # A name starts the text, follows a non-word character, or follows an encoded ? or &.
    r"(?P<name>(?:(?<![A-Za-z0-9_-])|(?<=%3F)|(?<=%26)|(?<=%3f))"
    + _SECRET_NAME
    + r")(?P<sep>=|%3D)(?P<value>[^&\s\"'<>#,;)\]}]+)",
    re.IGNORECASE,
)
# S3/GCS error documents echo signatures and key ids back in XML elements.
_XML_SECRET = re.compile(
    r"<(?P<tag>SignatureProvided|StringToSign|CanonicalRequest|AWSAccessKeyId|GoogleAccessId)>"
    r".*?</(?P=tag)>",
    re.IGNORECASE | re.DOTALL,
)
# JSON echoes like {"api_key": "..."} in an error body.
_JSON_SECRET = re.compile(r"(?P<head>\"api_key\"\s*:\s*\")(?P<value>[^\"]*)(?P<tail>\")", re.IGNORECASE)

_known_secrets: set[str] = set()


def register_secret(secret: str | None) -> None:
    """Also remove this literal value wherever it appears (e.g. an API key echoed in a message)."""
    # Very short values would mangle ordinary words; an API key is far longer.
    if secret and len(secret) >= 4:
        _known_secrets.add(secret)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with API keys, URL signatures and the given literal secrets replaced by ``***``."""
    if not text:
        return text
    text = _QUERY_SECRET.sub(lambda m: f"{m.group('name')}{m.group('sep')}{MASK}", text)
    text = _XML_SECRET.sub(lambda m: f"<{m.group('tag')}>{MASK}</{m.group('tag')}>", text)
    text = _JSON_SECRET.sub(lambda m: f"{m.group('head')}{MASK}{m.group('tail')}", text)
    for secret in sorted({*_known_secrets, *(s for s in secrets if s)}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def redact_url(url: str) -> str:
    """A URL safe to show: secret query values masked."""
    return redact(url)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with ``redact`` (httpx logs full request URLs at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix; leave the record alone
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


# httpcore logs on child loggers; a logger's filters do not apply to records of its children.
HTTP_LIBRARY_LOGGERS: tuple[str, ...] = (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)

_FILTER = RedactingFilter()


def install_log_redaction(logger_names: Iterable[str] = HTTP_LIBRARY_LOGGERS) -> None:
    """Attach the redacting filter to the HTTP library loggers (idempotent)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
