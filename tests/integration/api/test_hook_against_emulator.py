"""RoboflowHook with connections from AIRFLOW_CONN_* variables, against emulators on loopback."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from include.devstack.services import Service, free_port, start_roboflow_emulator
from include.roboflow_batch.api import RetryPolicy
from include.roboflow_batch.hooks.roboflow import RoboflowHook
from include.roboflow_emulator.testing import EmulatorHandle
from tests.integration.api.conftest import api_requests

pytestmark = pytest.mark.integration

NO_BATCH_PROCESSING_KEY = "starter-plan-key-7c2e"


@pytest.fixture(scope="module")
def starter_plan_emulator() -> Iterator[Service]:
    """A second emulator whose extra key belongs to a workspace without Batch Processing."""
    service = start_roboflow_emulator(extra_args=["--no-batch-processing-key", NO_BATCH_PROCESSING_KEY])
    try:
        yield service
    finally:
        service.stop()


def _connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "roboflow", **fields}))


def test_a_working_connection(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorHandle) -> None:
    _connection(monkeypatch, "roboflow_default", host=emulator.base_url, password=emulator.api_key)

    ok, message = RoboflowHook().test_connection()

    assert ok, message
    assert f"workspace {emulator.workspace!r}" in message
    assert api_requests(emulator) == {
        "GET /": 1,
        "GET /batch-processing/v1/external/{workspace}/jobs": 1,
    }


def test_a_wrong_key_fails_at_once_naming_the_connection(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _connection(monkeypatch, "rf_wrong", host=emulator.base_url, password="wrong-key-4d1c9b")

    ok, message = RoboflowHook("rf_wrong").test_connection()

    assert not ok
    assert message.startswith("Roboflow rejected the API key of connection 'rf_wrong' (HTTP 401)")
    assert api_requests(emulator) == {"GET /": 1}
    assert "wrong-key-4d1c9b" not in message + caplog.text


def test_an_unreachable_host_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    _connection(monkeypatch, "rf_down", host=closed, password="any-key-1234", extra={"max_retries": 10})

    ok, message = RoboflowHook("rf_down").test_connection()

    assert not ok
    assert message.startswith(f"Cannot reach the Roboflow API at {closed} for connection 'rf_down'")
    assert "Connection refused" in message


def test_a_workspace_without_batch_processing(
    monkeypatch: pytest.MonkeyPatch, starter_plan_emulator: Service, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _connection(monkeypatch, "rf_starter", host=starter_plan_emulator.url, password=NO_BATCH_PROCESSING_KEY)

    ok, message = RoboflowHook("rf_starter").test_connection()

    assert not ok
    assert (
        "The API key of connection 'rf_starter' is valid, but its workspace has no Batch Processing"
        in message
    )
    assert "(HTTP 402)" in message
    assert NO_BATCH_PROCESSING_KEY not in message + caplog.text


async def test_sync_and_async_clients_from_the_hook(
    monkeypatch: pytest.MonkeyPatch, emulator: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")
    host = emulator.base_url.removeprefix("http://")
    _connection(monkeypatch, "roboflow_default", host=host, schema="http", password=emulator.api_key)
    hook = RoboflowHook(retry_policy=RetryPolicy(max_retries=3, initial_backoff=0.01, max_backoff=0.02))

    assert hook.workspace == emulator.workspace
    assert hook.job_url("job-1") == f"{emulator.base_url}/{emulator.workspace}/batch-processing/job-1"
    assert list(hook.get_client().iter_jobs()) == []
    async with await hook.aget_client() as client:
        assert await client.get_workspace() == emulator.workspace
        assert [job async for job in client.iter_jobs()] == []
    assert emulator.api_key not in caplog.text
    assert "api_key=***" in caplog.text
