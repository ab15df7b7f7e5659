"""Turning an HTTP error reply into a typed :class:`RoboflowAPIError`, whatever HTTP library received it.

Free of HTTP libraries, so that a process that only downloads signed URLs over urllib3 (the
export's worker processes) does not import httpx to explain a failed download.
"""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime
from typing import Any

from include.roboflow_batch.api.errors import CreditsExhaustedError, RoboflowAPIError, error_class_for_reply
from include.roboflow_batch.api.redaction import redact

BODY_EXCERPT = 500
#: Seconds a connection may take to open: a reachable server accepts in well under a second.
MAX_CONNECT_TIMEOUT = 10.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent/invalid."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def server_message(text: str, reason: str) -> str:
    """The server's explanation: ``{"error": "..."}``, ``{"error": {"message": ...}}``, or the text."""
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    message: Any = None
    if isinstance(payload, dict):
        message = payload.get("error", payload.get("message"))
        if isinstance(message, dict):
            message = message.get("message") or json.dumps(message)
    if not message:
        message = text.strip() or reason or "no details"
    message = str(message)
    if len(message) > BODY_EXCERPT:
        message = message[:BODY_EXCERPT] + "..."
    return message


def error_for_reply(
    operation: str,
    status: int,
    text: str,
    *,
    reason: str = "",
    retry_after: str | None = None,
    secrets: tuple[str, ...] = (),
    hint: str | None = None,
) -> RoboflowAPIError:
    """The error for an HTTP ``status`` reply whose body is ``text`` (``secrets`` removed from it)."""
    message = redact(server_message(text, reason), secrets)
    error_class = error_class_for_reply(status, message)
    # The hints explain a status (402: a plan without the feature), which credits answers reuse.
    if hint and error_class is not CreditsExhaustedError:
        message = f"{message} ({hint})"
    return error_class(
        message,
        status_code=status,
        operation=operation,
        retry_after=parse_retry_after(retry_after),
    )
