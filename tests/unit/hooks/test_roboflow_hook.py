from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import respx
from airflow.sdk.exceptions import AirflowException

from include.roboflow_batch.api import AsyncRoboflowClient, RetryPolicy, RoboflowClient
from include.roboflow_batch.hooks.roboflow import RoboflowHook

KEY = "hook-unit-key-5e1d77"
FAST = RetryPolicy(max_retries=2, initial_backoff=0, max_backoff=0, jitter=0)
BP = "/batch-processing/v1/external"


@pytest.mark.parametrize(
    ("fields", "base_url"),
    [
        ({}, "https://api.roboflow.com"),
        ({"host": "api.roboflow.eu"}, "https://api.roboflow.eu"),
        ({"host": "https://api.roboflow.one/"}, "https://api.roboflow.one"),
        ({"host": "http://127.0.0.1:8899"}, "http://127.0.0.1:8899"),
        ({"host": "127.0.0.1", "port": 8899, "schema": "http"}, "http://127.0.0.1:8899"),
        ({"host": "https://proxy.example.test/roboflow"}, "https://proxy.example.test/roboflow"),
    ],
)
def test_host_is_accepted_with_or_without_scheme(
    fields: dict, base_url: str, roboflow_conn: Callable[..., None]
) -> None:
    roboflow_conn(password=KEY, **fields)

    client = RoboflowHook().get_client()

    assert isinstance(client, RoboflowClient)
    assert client.base_url == base_url


def test_extras_configure_the_client(roboflow_conn: Callable[..., None]) -> None:
    roboflow_conn(
        password=KEY,
        extra={"workspace": "ws", "publishable_key": "rf_pub", "timeout": "12.5", "max_retries": 2},
    )
    hook = RoboflowHook()

    client = hook.get_client()

    assert client is hook.get_client()
    assert hook.workspace == "ws"  # from extras: no API call (respx is not active, nothing listens)
    assert hook.publishable_key == "rf_pub"
    assert client.timeout == 12.5
    assert client.retry_policy.max_retries == 2


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {},
            "Connection 'roboflow_default' has no API key: put the Roboflow private API key in its password",
        ),
        ({"password": KEY, "extra": {"timeout": "soon"}}, "extra 'timeout' must be a number, got 'soon'"),
        ({"password": KEY, "extra": {"timeout": 0}}, "extra 'timeout' must be positive"),
        ({"password": KEY, "extra": {"max_retries": -1}}, "extra 'max_retries' must be 0 or more"),
        ({"password": KEY, "extra": {"max_retries": 1.5}}, "extra 'max_retries' must be an integer"),
        ({"password": KEY, "host": "ftp://files.example"}, "host is not a usable API URL"),
    ],
)
def test_bad_connections_are_reported_with_the_connection_id(
    fields: dict, message: str, roboflow_conn: Callable[..., None]
) -> None:
    roboflow_conn(**fields)

    with pytest.raises(AirflowException, match=message):
        RoboflowHook().get_client()
    ok, text = RoboflowHook().test_connection()
    assert not ok and "roboflow_default" in text


def test_the_api_key_is_registered_with_the_secrets_masker(roboflow_conn: Callable[..., None]) -> None:
    from airflow.sdk._shared.secrets_masker.secrets_masker import redact

    roboflow_conn(conn_id="rf_masked", password="masked-key-0b9f2a")
    RoboflowHook("rf_masked").get_client()

    assert "masked-key-0b9f2a" not in str(redact("key is masked-key-0b9f2a"))


@pytest.fixture
def api() -> respx.MockRouter:
    with respx.mock(base_url="https://api.roboflow.com", assert_all_called=False) as router:
        yield router


def test_workspace_is_looked_up_once_when_not_configured(
    roboflow_conn: Callable[..., None], api: respx.MockRouter
) -> None:
    roboflow_conn(password=KEY)
    root = api.get("/").mock(return_value=httpx.Response(200, json={"workspace": "looked-up"}))
    hook = RoboflowHook(retry_policy=FAST)

    assert hook.workspace == "looked-up"
    assert hook.workspace == "looked-up"
    assert root.call_count == 1


def test_workspace_failure_names_the_connection(
    roboflow_conn: Callable[..., None], api: respx.MockRouter
) -> None:
    roboflow_conn(conn_id="rf_other", password=KEY)
    api.get("/").mock(return_value=httpx.Response(401, json={"error": "bad key"}))

    with pytest.raises(
        AirflowException, match=r"Connection 'rf_other': could not determine the workspace.*bad key"
    ):
        _ = RoboflowHook("rf_other").workspace


async def test_async_client_resolves_the_connection_asynchronously(
    roboflow_conn: Callable[..., None], api: respx.MockRouter
) -> None:
    roboflow_conn(password=KEY, extra={"workspace": "ws", "timeout": 5})
    api.get(f"{BP}/ws/jobs/j1").mock(return_value=httpx.Response(404, json={"error": "no such job"}))

    async with await RoboflowHook(retry_policy=FAST).aget_client() as client:
        assert isinstance(client, AsyncRoboflowClient)
        assert client.timeout == 5
        assert await client.get_workspace() == "ws"
        with pytest.raises(Exception, match="no such job"):
            await client.get_job("j1")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        (None, "https://app.roboflow.com/ws/batch-processing/job-1"),
        ("api.roboflow.eu", "https://app.roboflow.eu/ws/batch-processing/job-1"),
        ("https://api.roboflow.one", "https://app.roboflow.one/ws/batch-processing/job-1"),
        ("http://127.0.0.1:8899", "http://127.0.0.1:8899/ws/batch-processing/job-1"),
    ],
)
def test_job_url(host: str | None, expected: str, roboflow_conn: Callable[..., None]) -> None:
    fields = {"password": KEY, "extra": {"workspace": "ws"}}
    if host:
        fields["host"] = host
    roboflow_conn(**fields)

    assert RoboflowHook().job_url("job-1") == expected


@pytest.mark.parametrize(
    ("root", "jobs", "ok", "expected"),
    [
        (
            httpx.Response(200, json={"workspace": "ws"}),
            httpx.Response(200, json={"jobs": [], "nextPageToken": None}),
            True,
            "Connected to Roboflow workspace 'ws' at https://api.roboflow.com; Batch Processing is available",
        ),
        (
            httpx.Response(401, json={"error": "Invalid API key"}),
            None,
            False,
            "Roboflow rejected the API key of connection 'roboflow_default' (HTTP 401)",
        ),
        (
            httpx.Response(200, json={"workspace": "ws"}),
            httpx.Response(402, json={"error": "Batch processing is not enabled for this workspace"}),
            False,
            "has no Batch Processing access (HTTP 402): Batch processing is not enabled",
        ),
        (
            httpx.Response(200, json={"workspace": "ws"}),
            httpx.Response(503, json={"error": "maintenance"}),
            False,
            "Roboflow API check for connection 'roboflow_default' failed: "
            "Roboflow list jobs (B1) failed: HTTP 503",
        ),
    ],
    ids=["ok", "401", "402", "503"],
)
def test_test_connection_says_what_failed(
    root: httpx.Response,
    jobs: httpx.Response | None,
    ok: bool,
    expected: str,
    roboflow_conn: Callable[..., None],
    api: respx.MockRouter,
) -> None:
    roboflow_conn(password=KEY)
    root_route = api.get("/").mock(return_value=root)
    jobs_route = api.get(f"{BP}/ws/jobs").mock(return_value=jobs or httpx.Response(500))

    result, message = RoboflowHook().test_connection()

    assert result is ok
    assert expected in message
    assert KEY not in message
    assert root_route.call_count == 1
    assert jobs_route.call_count == (1 if jobs is not None else 0)  # no retries in a connection test
    if jobs is not None:
        assert jobs_route.calls.last.request.url.params["pageSize"] == "1"


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(401, json={"error": "Invalid API key"}), httpx.ConnectError("Connection refused")],
    ids=["401", "refused"],
)
def test_test_connection_names_the_connection_once(
    failure: httpx.Response | Exception, roboflow_conn: Callable[..., None], api: respx.MockRouter
) -> None:
    roboflow_conn(password=KEY)
    api.get("/").mock(side_effect=[failure])

    ok, message = RoboflowHook().test_connection()

    assert not ok
    assert message.count("roboflow_default") == 1, message


def test_test_connection_flags_a_workspace_mismatch(
    roboflow_conn: Callable[..., None], api: respx.MockRouter
) -> None:
    roboflow_conn(password=KEY, extra={"workspace": "typo-ws"})
    api.get("/").mock(return_value=httpx.Response(200, json={"workspace": "ws"}))
    api.get(f"{BP}/ws/jobs").mock(return_value=httpx.Response(200, json={"jobs": [], "nextPageToken": None}))

    ok, message = RoboflowHook().test_connection()

    assert not ok
    assert "belongs to workspace 'ws', but the connection's extra 'workspace' says 'typo-ws'" in message


def test_provider_info_declares_the_connection_type() -> None:
    import json
    from pathlib import Path

    import airflow
    import jsonschema

    from include.roboflow_batch.provider_info import get_provider_info

    info = get_provider_info()
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(info, schema)
    (conn_type,) = info["connection-types"]
    assert conn_type["connection-type"] == RoboflowHook.conn_type
    assert conn_type["hook-name"] == RoboflowHook.hook_name
    module, _, name = conn_type["hook-class-name"].rpartition(".")
    assert getattr(__import__(module, fromlist=[name]), name) is RoboflowHook
    assert conn_type["ui-field-behaviour"]["relabeling"]["password"] == "API key"
    assert set(conn_type["conn-fields"]) == {"workspace", "publishable_key", "timeout", "max_retries"}


@pytest.mark.parametrize("fields", [{}, {"password": KEY}], ids=["no-key", "401"])
def test_test_from_the_ui_names_the_edited_connection_not_the_temporary_id(
    fields: dict, roboflow_conn: Callable[..., None], api: respx.MockRouter
) -> None:
    from include.roboflow_batch.hooks.connection_test import connection_under_test

    roboflow_conn("tmp_x7f3k2", **fields)  # Airflow tests under a random temporary id
    api.get("/").mock(return_value=httpx.Response(401, json={"error": "Invalid API key"}))
    token = connection_under_test.set("roboflow_prod")
    try:
        ok, message = RoboflowHook(roboflow_conn_id="tmp_x7f3k2").test_connection()
    finally:
        connection_under_test.reset(token)

    assert not ok
    assert "'roboflow_prod'" in message and "tmp_x7f3k2" not in message.lower()
