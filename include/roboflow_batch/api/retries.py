"""When and how long to wait before repeating a failed request (tenacity).

Exponential back-off with jitter; a server's ``Retry-After`` is honoured exactly, and when it asks
for longer than ``max_retry_after`` the error is raised instead, so that a scheduler (Airflow task
retry, trigger poll interval) does the waiting rather than a blocked worker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tenacity import RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from include.roboflow_batch.api.errors import (
    RateLimitedError,
    RequestTimeoutError,
    RoboflowAPIError,
    ServerError,
    TransportError,
)
from include.roboflow_batch.api.request_spec import Retry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` repeats after the first attempt; waits in seconds."""

    max_retries: int = 5
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        for name in ("initial_backoff", "max_backoff", "jitter", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def is_retryable(error: BaseException, mode: Retry) -> bool:
    """Whether repeating the request after ``error`` is safe and may help."""
    if isinstance(error, TransportError):
        return mode is Retry.SAFE or not error.request_sent
    if isinstance(error, RateLimitedError | RequestTimeoutError):
        return True  # the server refused the request: it had no effect
    if isinstance(error, ServerError):
        return mode is Retry.SAFE
    return False


class _Wait:
    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = wait_exponential_jitter(
            initial=policy.initial_backoff, max=policy.max_backoff, jitter=policy.jitter
        )

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        return float(self._backoff(state))


def retry_arguments(mode: Retry, policy: RetryPolicy) -> dict[str, Any]:
    """Keyword arguments for ``tenacity.Retrying`` / ``AsyncRetrying``."""

    def should_retry(error: BaseException) -> bool:
        if not is_retryable(error, mode):
            return False
        retry_after = getattr(error, "retry_after", None)
        return retry_after is None or retry_after <= policy.max_retry_after

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        # The error's text is already redacted.
        log.warning(
            "%s; retrying in %.2f s (attempt %d of %d)",
            error if isinstance(error, RoboflowAPIError) else type(error).__name__,
            wait,
            state.attempt_number + 1,
            policy.max_retries + 1,
        )

    return {
        "stop": stop_after_attempt(policy.max_retries + 1),
        "wait": _Wait(policy),
        "retry": retry_if_exception(should_retry),
        "before_sleep": before_sleep,
        "reraise": True,
    }
