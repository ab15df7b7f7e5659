"""Turning Roboflow API errors into the Airflow exception that gives the right retry behaviour.

Client errors (4xx) fail the task at once: retrying cannot help, and a wrong API key retried three
times only delays the alert. Throttling, time-outs, server errors and lost connections raise a plain
``AirflowException``, which Airflow retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from include.roboflow_batch.api.errors import CreditsExhaustedError, RoboflowAPIError

__all__ = ["credits_advice", "is_transient", "roboflow_errors"]

# Worth another attempt later: throttling, time-outs, server trouble, no connection.
_TRANSIENT_STATUSES = frozenset({408, 429})

# What the user has to fix in the Airflow connection when the server rejects its credentials.
_CONNECTION_PROBLEMS = {
    401: "the API key (the password of Airflow connection {conn!r}) is missing, wrong or revoked",
    402: "the workspace of Airflow connection {conn!r} does not include Batch Processing",
}


def is_transient(exc: RoboflowAPIError) -> bool:
    """True when the same request may succeed later (408, 429, 5xx or no response at all); never
    for exhausted credits, which only a top-up ends (a retry every few minutes for hours spends
    nothing but hides the alert)."""
    if isinstance(exc, CreditsExhaustedError):
        return False
    status = exc.status_code
    return status is None or status in _TRANSIENT_STATUSES or status >= 500


def credits_advice(conn_id: str | None, workspace: str | None = None) -> str:
    """What to do when the workspace has no credits left."""
    whose = f"workspace {workspace!r}" if workspace else "the workspace"
    if conn_id:
        whose += f" (Airflow connection {conn_id!r})"
    return (
        f"Roboflow says {whose} has no credits left. Waiting does not help: add credits on the "
        "workspace's billing page in Roboflow, then clear this task to run it again"
    )


def describe_failure(action: str, exc: RoboflowAPIError, conn_id: str | None = None) -> str:
    """``"<action> failed: <server message>"``, plus what to fix in the connection on 401/402."""
    message = f"{action} failed: {exc}"
    if isinstance(exc, CreditsExhaustedError):
        return f"{message}; {credits_advice(conn_id)}"
    problem = _CONNECTION_PROBLEMS.get(exc.status_code or 0)
    # The hook's client already names the connection its key came from; say it once.
    if problem and conn_id and repr(conn_id) not in message:
        message += f"; {problem.format(conn=conn_id)}"
    return message


@contextmanager
def roboflow_errors(action: str, conn_id: str | None = None) -> Iterator[None]:
    """Re-raise API errors as ``AirflowFailException`` (4xx: retrying cannot help) or ``AirflowException``.

    :param action: what was being done, e.g. ``"start of job abc"``; it opens the message.
    :param conn_id: the Roboflow connection used; named in the message when its key or plan is the cause.
    """
    try:
        yield
    except RoboflowAPIError as exc:
        message = describe_failure(action, exc, conn_id)
        if is_transient(exc):
            raise AirflowException(message) from exc
        raise AirflowFailException(message) from exc
