"""Every operator and sensor maps Roboflow API errors the same way: 4xx fails at once, the rest is retried."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from include.roboflow_batch.api.errors import (
    BadRequestError,
    CreditsExhaustedError,
    FeatureNotEnabledError,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    RoboflowAPIError,
    ServerError,
    TransportError,
    UnauthorizedError,
)
from include.roboflow_batch.hooks.errors import is_transient, roboflow_errors
from include.roboflow_batch.operators.export import RoboflowExportOperator
from include.roboflow_batch.operators.start_job import RoboflowStartJobOperator
from include.roboflow_batch.sensors.job import RoboflowJobSensor
from tests.unit.jobs.fakes import FakeHook, make_context

CONN_ID = "roboflow_prod"


def unauthorized() -> RoboflowAPIError:
    return UnauthorizedError("Invalid API key", status_code=401, operation="get job")


def unavailable() -> RoboflowAPIError:
    return ServerError("Service Unavailable", status_code=503, operation="get job")


class FailingClient:
    """A client whose every call fails with the same API error."""

    def __init__(self, error: RoboflowAPIError) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> NoReturn:
            raise self.error

        return call


def start_job(error: RoboflowAPIError, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(RoboflowStartJobOperator, "_hook", lambda self: FakeHook(FailingClient(error)))
    operator = RoboflowStartJobOperator(
        task_id="start_job", batch_id="batch-1", workflow_id="image-stats", roboflow_conn_id=CONN_ID
    )
    operator.execute(make_context())


def poke_job_sensor(error: RoboflowAPIError, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(RoboflowJobSensor, "_hook", lambda self: FakeHook(FailingClient(error)))
    sensor = RoboflowJobSensor(task_id="wait_for_job", job_id="job-1", roboflow_conn_id=CONN_ID)
    sensor.poke(make_context())


def export(error: RoboflowAPIError, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(RoboflowExportOperator, "_hook", lambda self: FakeHook(FailingClient(error)))
    operator = RoboflowExportOperator(
        task_id="export",
        job_id="job-1",
        destination=(tmp_path / "out").as_uri(),
        expected_count=1,
        roboflow_conn_id=CONN_ID,
    )
    operator.execute(make_context())


TASKS = pytest.mark.parametrize("run", [start_job, poke_job_sensor, export], ids=lambda f: f.__name__)


@TASKS
def test_rejected_api_key_fails_at_once_naming_the_connection(
    run: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(AirflowFailException) as raised:
        run(unauthorized(), monkeypatch, tmp_path)
    message = str(raised.value)
    assert "HTTP 401" in message
    assert "Invalid API key" in message
    assert f"'{CONN_ID}'" in message
    assert "API key" in message.split("Invalid API key", 1)[1]


@TASKS
def test_unavailable_service_raises_a_retryable_error(
    run: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(AirflowException) as raised:
        run(unavailable(), monkeypatch, tmp_path)
    assert not isinstance(raised.value, AirflowFailException)
    assert "HTTP 503" in str(raised.value)
    assert isinstance(raised.value.__cause__, ServerError)


@pytest.mark.parametrize(
    "error",
    [
        RequestTimeoutError("slow", status_code=408),
        RateLimitedError("slow down", status_code=429, retry_after=3),
        ServerError("boom", status_code=500),
        TransportError("connection refused", request_sent=False),
    ],
    ids=["408", "429", "500", "no-response"],
)
def test_transient_errors_are_retried(error: RoboflowAPIError) -> None:
    assert is_transient(error)
    with pytest.raises(AirflowException) as raised, roboflow_errors("lookup of batch b", CONN_ID):
        raise error
    assert not isinstance(raised.value, AirflowFailException)
    # The connection is fine: no advice to change it.
    assert CONN_ID not in str(raised.value)


@pytest.mark.parametrize(
    "error",
    [
        BadRequestError("bad batch id", status_code=400),
        NotFoundError("no such batch", status_code=404),
    ],
    ids=["400", "404"],
)
def test_client_errors_fail_with_the_servers_message(error: RoboflowAPIError) -> None:
    assert not is_transient(error)
    expected = rf"^lookup of batch b failed: .*{error.message}$"
    with pytest.raises(AirflowFailException, match=expected), roboflow_errors("lookup of batch b", CONN_ID):
        raise error


@pytest.mark.parametrize("status", [429, 402])
def test_exhausted_credits_fail_at_once_saying_what_to_do(status: int) -> None:
    error = CreditsExhaustedError("Not enough credits to perform this request.", status_code=status)
    assert not is_transient(error)
    with pytest.raises(AirflowFailException) as raised, roboflow_errors("start of job j", CONN_ID):
        raise error
    message = str(raised.value)
    assert "no credits left" in message and "add credits" in message and repr(CONN_ID) in message
    assert "Batch Processing" not in message  # not the advice for a plan without the feature


def test_workspace_without_batch_processing_names_the_connection() -> None:
    error = FeatureNotEnabledError("Batch processing is not enabled", status_code=402)
    expected = f"workspace of Airflow connection '{CONN_ID}'"
    with pytest.raises(AirflowFailException, match=expected), roboflow_errors("start of job j", CONN_ID):
        raise error


def test_connection_named_once_when_the_client_already_names_it() -> None:
    # The hook's client says where the key came from; the Airflow message must not repeat it.
    error = UnauthorizedError(
        f"HTTP 401: Invalid API key; the API key from Airflow connection '{CONN_ID}' was rejected",
        status_code=401,
    )
    with pytest.raises(AirflowFailException) as raised, roboflow_errors("start of job j", CONN_ID):
        raise error
    assert str(raised.value).count(repr(CONN_ID)) == 1
