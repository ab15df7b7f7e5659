"""Turning Roboflow API errors into the Airflow exception that gives the right retry behaviour."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from include.roboflow_batch.api.errors import RoboflowAPIError

__all__ = ["is_transient", "roboflow_errors"]

# Worth another attempt later: throttling, time-outs, server trouble, no connection.
_TRANSIENT_STATUSES = frozenset({408, 429})


def is_transient(exc: RoboflowAPIError) -> bool:
    status = exc.status_code
    return status is None or status in _TRANSIENT_STATUSES or status >= 500


@contextmanager
def roboflow_errors(action: str) -> Iterator[None]:
    """Re-raise API errors as ``AirflowFailException`` (4xx: retrying cannot help) or ``AirflowException``."""
    try:
        yield
    except RoboflowAPIError as exc:
        message = f"{action} failed: {exc}"
        if is_transient(exc):
            raise AirflowException(message) from exc
        raise AirflowFailException(message) from exc
