"""Errors a caller can act on.

Every message is redacted before it is stored: no API key and no URL signature ever reaches
``str()``, ``repr()``, ``args`` or a formatted traceback. Errors are raised without chaining the
underlying httpx or pydantic exception, because those carry full URLs and raw input values.
"""

from __future__ import annotations

import re


class RoboflowAPIError(Exception):
    """A call to the Roboflow API failed.

    ``status_code`` is the HTTP status (None when no response arrived), ``message`` the server's
    own explanation (or ours when the server gave none), ``operation`` names the call.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        operation: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.operation = operation
        self.retry_after = retry_after
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.operation:
            parts.append(f"Roboflow {self.operation} failed")
        if self.status_code is not None:
            parts.append(f"HTTP {self.status_code}")
        parts.append(self.message)
        return ": ".join(parts)

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only arguments do not survive the default pickling of exceptions.
        return (
            _rebuild,
            (type(self), self.message, self.status_code, self.operation, self.retry_after),
        )


def _rebuild(
    cls: type[RoboflowAPIError],
    message: str,
    status_code: int | None,
    operation: str | None,
    retry_after: float | None,
) -> RoboflowAPIError:
    error = cls.__new__(cls)
    RoboflowAPIError.__init__(
        error, message, status_code=status_code, operation=operation, retry_after=retry_after
    )
    return error


class BadRequestError(RoboflowAPIError):
    """400: the request was rejected as invalid; repeating it will not help."""


class UnauthorizedError(RoboflowAPIError):
    """401: the API key is missing, wrong or revoked."""


class FeatureNotEnabledError(RoboflowAPIError):
    """402: the workspace's plan does not include this feature (e.g. Batch Processing)."""


class NotFoundError(RoboflowAPIError):
    """404: the batch, job or workspace does not exist (or has expired)."""


class ConflictError(RoboflowAPIError):
    """409: e.g. a job id that already exists with a different definition."""


class ExpiredBatchIdError(ConflictError):
    """409 on an upload or ingest into the id of a batch past its 7-day retention, when the service
    keeps such ids reserved (told apart from other conflicts by the word "expired"); stage into a new id."""


class RequestTimeoutError(RoboflowAPIError):
    """408: the server gave up waiting for the request; it was not processed."""


class RateLimitedError(RoboflowAPIError):
    """429: too many requests; ``retry_after`` says how long to wait."""


class CreditsExhaustedError(RoboflowAPIError):
    """The workspace has no credits left (429 or 402 whose message speaks of credits).

    Not a ``RateLimitedError``: waiting does not help, only adding credits does, so nothing retries it.
    Batch Processing checks credits before it checks for a duplicate job id, so a repeat of a job
    creation whose first answer was lost can meet this error although the job exists.
    """


class ServerError(RoboflowAPIError):
    """5xx: the server failed; the request may or may not have taken effect."""


class TransportError(RoboflowAPIError):
    """No HTTP response: connection refused or dropped, DNS failure, time-out.

    ``request_sent`` is False when the request certainly never reached the server (connection not
    established), so even a non-idempotent write may be repeated safely.
    """

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        request_sent: bool = True,
    ) -> None:
        self.request_sent = request_sent
        super().__init__(message, operation=operation)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_transport, (self.message, self.operation, self.request_sent))


def _rebuild_transport(message: str, operation: str | None, request_sent: bool) -> TransportError:
    return TransportError(message, operation=operation, request_sent=request_sent)


class ResponseDecodeError(RoboflowAPIError):
    """The server answered 2xx, but not with the shape the contract promises."""


STATUS_ERRORS: dict[int, type[RoboflowAPIError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    402: FeatureNotEnabledError,
    404: NotFoundError,
    408: RequestTimeoutError,
    409: ConflictError,
    429: RateLimitedError,
}


#: Statuses Roboflow answers when credits run out: 429 from Batch Processing (credits are checked
#: before a job is created), 402 from its other APIs. Their body, not the status, tells them apart
#: from rate limiting (429) and from a plan without the feature (402).
CREDITS_STATUSES = frozenset({402, 429})
_CREDITS_WORDING = re.compile(r"\bcredits?\b", re.IGNORECASE)
_EXPIRED_WORDING = re.compile(r"\bexpired\b", re.IGNORECASE)


def error_class_for_status(status_code: int) -> type[RoboflowAPIError]:
    """The most specific error class for an HTTP error status."""
    if status_code >= 500:
        return ServerError
    return STATUS_ERRORS.get(status_code, RoboflowAPIError)


def error_class_for_reply(status_code: int, message: str) -> type[RoboflowAPIError]:
    """The most specific error class for an HTTP error status and the server's message."""
    if status_code in CREDITS_STATUSES and _CREDITS_WORDING.search(message):
        return CreditsExhaustedError
    if status_code == 409 and _EXPIRED_WORDING.search(message):
        return ExpiredBatchIdError
    return error_class_for_status(status_code)
