"""Error mapping, retry decisions, Retry-After and response decoding, for both clients."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx

from include.roboflow_batch.api import (
    BadRequestError,
    ConflictError,
    CreditsExhaustedError,
    FeatureNotEnabledError,
    NotFoundError,
    RateLimitedError,
    ResponseDecodeError,
    RoboflowAPIError,
    ServerError,
    TransportError,
    UnauthorizedError,
)
from tests.unit.api import payloads
from tests.unit.api.client_drivers import ClientDriver, make_client
from tests.unit.api.conftest import API_KEY, BASE_URL

DS = "/data-staging/v1/external/ws"
BP = "/batch-processing/v1/external/ws"


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, BadRequestError),
        (401, UnauthorizedError),
        (402, FeatureNotEnabledError),
        (403, RoboflowAPIError),
        (404, NotFoundError),
        (409, ConflictError),
    ],
)
async def test_client_errors_are_typed_carry_the_server_message_and_are_not_retried(
    status: int, error_class: type[RoboflowAPIError], driver: ClientDriver, api: respx.MockRouter
) -> None:
    route = api.get(f"{BP}/jobs/j1").mock(
        return_value=httpx.Response(status, json={"error": f"Job j1: reason {status}"})
    )

    with pytest.raises(error_class) as caught:
        await driver.call("get_job", "j1")

    assert type(caught.value) is error_class
    assert caught.value.status_code == status
    assert caught.value.message == f"Job j1: reason {status}"
    assert f"HTTP {status}" in str(caught.value) and "get job 'j1' (B2)" in str(caught.value)
    assert route.call_count == 1


async def test_nested_error_bodies_and_plain_text_are_understood(
    driver: ClientDriver, api: respx.MockRouter
) -> None:
    api.get(f"{DS}/batches/b1").mock(
        return_value=httpx.Response(404, json={"error": {"message": "No batch b1"}})
    )
    api.get(f"{DS}/batches/b2").mock(return_value=httpx.Response(400, text="plain words"))

    with pytest.raises(NotFoundError, match="No batch b1"):
        await driver.call("get_batch", "b1")
    with pytest.raises(BadRequestError, match="plain words"):
        await driver.call("get_batch", "b2")


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_reads_are_retried_on_transient_statuses(
    status: int, driver: ClientDriver, api: respx.MockRouter
) -> None:
    route = api.get(f"{DS}/batches/b1/count").mock(
        side_effect=[httpx.Response(status, json={"error": "busy"}), httpx.Response(200, json={"count": 4})]
    )

    assert await driver.call("count_batch", "b1") == 4
    assert route.call_count == 2


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped")],
)
async def test_reads_are_retried_on_connection_failures(
    failure: Exception, driver: ClientDriver, api: respx.MockRouter
) -> None:
    route = api.get(f"{BP}/jobs/j1").mock(
        side_effect=[failure, httpx.Response(200, json={"job": payloads.job()})]
    )

    assert (await driver.call("get_job", "j1")).job_id == "j1"
    assert route.call_count == 2


async def test_retries_give_up_after_max_retries(driver: ClientDriver, api: respx.MockRouter) -> None:
    route = api.get(f"{BP}/jobs/j1").mock(return_value=httpx.Response(503, json={"error": "down"}))

    with pytest.raises(ServerError, match="down") as caught:
        await driver.call("get_job", "j1")

    assert caught.value.status_code == 503
    assert route.call_count == 5  # 1 + FAST_RETRIES.max_retries


async def test_retryable_failures_become_transport_errors(
    driver: ClientDriver, api: respx.MockRouter
) -> None:
    api.get(f"{BP}/jobs/j1").mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(TransportError) as caught:
        await driver.call("get_job", "j1")

    assert caught.value.status_code is None
    assert caught.value.request_sent is False
    assert "refused" in str(caught.value)


UPLOAD = ("upload_image", ("b1", "x.jpg", b"img"), f"{DS}/batches/b1/upload/image")
VIDEO = ("request_video_upload", ("b1", "v.mp4"), f"{DS}/batches/b1/upload/video")
BULK = ("request_bulk_image_upload", ("b1",), f"{DS}/batches/b1/bulk-upload/image-files")
RESTART = ("restart_job", ("j1",), f"{BP}/jobs/j1/restart")
ROBOQL = ("roboql_ingest", ("b1", "q"), f"{DS}/batches/b1/roboql-ingest")
WRITES_WITHOUT_ID = [UPLOAD, VIDEO, BULK, RESTART, ROBOQL]


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500, json={"error": "boom"}),
        httpx.Response(502, json={"error": "boom"}),
        httpx.Response(503, json={"error": "boom"}),
        httpx.ReadTimeout("no answer"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
    ids=["500", "502", "503", "read-timeout", "dropped"],
)
@pytest.mark.parametrize("write", WRITES_WITHOUT_ID, ids=[w[0] for w in WRITES_WITHOUT_ID])
async def test_writes_without_an_id_are_not_repeated_after_ambiguous_failures(
    write: tuple, failure: object, driver: ClientDriver, api: respx.MockRouter
) -> None:
    name, args, path = write
    route = api.post(path).mock(
        side_effect=[failure, httpx.Response(200, json=payloads.SIGNED | {"status": "ok"})]
    )

    with pytest.raises((ServerError, TransportError)):
        await driver.call(name, *args)

    assert route.call_count == 1


@pytest.mark.parametrize(
    "failure",
    [httpx.Response(429, headers={"Retry-After": "0"}), httpx.Response(408), httpx.ConnectError("refused")],
    ids=["429", "408", "not-connected"],
)
@pytest.mark.parametrize("write", WRITES_WITHOUT_ID, ids=[w[0] for w in WRITES_WITHOUT_ID])
async def test_writes_without_an_id_are_repeated_when_the_server_surely_did_nothing(
    write: tuple, failure: object, driver: ClientDriver, api: respx.MockRouter
) -> None:
    name, args, path = write
    route = api.post(path).mock(
        side_effect=[failure, httpx.Response(200, json=payloads.SIGNED | {"status": "ok"})]
    )

    await driver.call(name, *args)

    assert route.call_count == 2


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "path"),
    [
        ("create_job", ("j1", {"type": "t"}), {}, f"{BP}/jobs/j1"),
        ("abort_job", ("j1",), {}, f"{BP}/jobs/j1/abort"),
        (
            "ingest_image_references",
            ("b1",),
            {"ingest_id": "i1", "references_url": "https://x.test/r"},
            f"{DS}/batches/b1/bulk-upload/image-references",
        ),
        (
            "ingest_video_references",
            ("b1",),
            {"ingest_id": "i1", "references_url": "https://x.test/r"},
            f"{DS}/batches/b1/bulk-upload/video-references",
        ),
        ("roboql_ingest", ("b1", "q"), {"ingest_id": "i1"}, f"{DS}/batches/b1/roboql-ingest"),
    ],
    ids=["create_job", "abort_job", "image_refs", "video_refs", "roboql_with_id"],
)
async def test_writes_keyed_by_an_id_are_repeated_after_ambiguous_failures(
    name: str, args: tuple, kwargs: dict, path: str, driver: ClientDriver, api: respx.MockRouter
) -> None:
    route = api.post(path).mock(
        side_effect=[
            httpx.RemoteProtocolError("dropped"),
            httpx.Response(500),
            httpx.Response(200, json={"ingestId": "i1", "status": "ok"}),
        ]
    )

    await driver.call(name, *args, **kwargs)

    assert route.call_count == 3


async def test_retry_after_is_honoured(
    driver: ClientDriver, api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="include.roboflow_batch")
    api.get(f"{BP}/jobs/j1").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0.25"}, json={"error": "slow down"}),
            httpx.Response(200, json={"job": payloads.job()}),
        ]
    )

    await driver.call("get_job", "j1")

    retry_lines = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert retry_lines == [
        "Roboflow get job 'j1' (B2) failed: HTTP 429: slow down; retrying in 0.25 s (attempt 2 of 5)"
    ]


async def test_a_retry_after_longer_than_the_cap_is_raised_for_the_caller_to_schedule(
    driver: ClientDriver, api: respx.MockRouter
) -> None:
    route = api.get(f"{BP}/jobs/j1").mock(
        return_value=httpx.Response(
            429, headers={"Retry-After": "3600"}, json={"error": "rate limit exceeded"}
        )
    )

    with pytest.raises(RateLimitedError) as caught:
        await driver.call("get_job", "j1")

    assert caught.value.retry_after == 3600.0
    assert route.call_count == 1


CREDITS = "Not enough credits to perform this request. Verify your workspace billing page."


@pytest.mark.parametrize("status", [429, 402])
async def test_exhausted_credits_are_told_apart_by_their_message_and_never_retried(
    status: int, driver: ClientDriver, api: respx.MockRouter
) -> None:
    route = api.post(f"{BP}/jobs/j1").mock(return_value=httpx.Response(status, json={"error": CREDITS}))

    with pytest.raises(CreditsExhaustedError) as caught:
        await driver.call("create_job", "j1", {"type": "t"})

    assert not isinstance(caught.value, RateLimitedError)
    assert caught.value.status_code == status and caught.value.message == CREDITS
    assert route.call_count == 1  # a creation keyed by its id, yet not repeated: waiting cannot help


async def test_a_429_without_credits_in_its_message_stays_a_rate_limit(
    driver: ClientDriver, api: respx.MockRouter
) -> None:
    route = api.post(f"{BP}/jobs/j1").mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "0"}, json={"error": "Too many requests"}),
            httpx.Response(200, json={"status": "ok"}),
        ]
    )

    await driver.call("create_job", "j1", {"type": "t"})

    assert route.call_count == 2


async def test_a_402_about_credits_gets_no_hint_about_the_plan(api: respx.MockRouter) -> None:
    driver = make_client(
        "async", BASE_URL, API_KEY, workspace="ws", key_source="Airflow connection 'rf_prod'"
    )
    api.post(f"{BP}/jobs/j1").mock(return_value=httpx.Response(402, json={"error": CREDITS}))

    with pytest.raises(CreditsExhaustedError) as caught:
        await driver.call("create_job", "j1", {"type": "t"})
    await driver.close()

    assert "plan" not in str(caught.value)


def test_credits_errors_survive_pickling() -> None:
    import pickle

    error = CreditsExhaustedError(CREDITS, status_code=429, operation="create job 'j1' (B3)")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is CreditsExhaustedError and str(copy) == str(error)


async def test_retry_after_as_http_date_is_understood(driver: ClientDriver, api: respx.MockRouter) -> None:
    api.get(f"{BP}/jobs/j1").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"})
    )

    with pytest.raises(RateLimitedError) as caught:
        await driver.call("get_job", "j1")

    assert caught.value.retry_after > 1e9


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"job": {"jobId": "j1"}}, "job.name: Field required"),
        ({"jobs": []}, "job: Field required"),
        ([1, 2], "Input should be a valid dictionary"),
    ],
)
async def test_missing_required_keys_are_a_decode_error_naming_the_field(
    payload: object, expected: str, driver: ClientDriver, api: respx.MockRouter
) -> None:
    api.get(f"{BP}/jobs/j1").mock(return_value=httpx.Response(200, json=payload))

    with pytest.raises(ResponseDecodeError) as caught:
        await driver.call("get_job", "j1")

    assert expected in str(caught.value)
    assert "received:" in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


async def test_a_non_json_answer_is_a_decode_error(driver: ClientDriver, api: respx.MockRouter) -> None:
    api.get("/").mock(return_value=httpx.Response(200, text="<html>proxy login</html>"))

    with pytest.raises(ResponseDecodeError, match=r"not the expected JSON.*proxy login"):
        await driver.call("lookup_workspace")


async def test_unknown_keys_are_ignored(driver: ClientDriver, api: respx.MockRouter) -> None:
    api.get(f"{BP}/jobs/j1").mock(
        return_value=httpx.Response(200, json={"job": payloads.job(newField={"x": 1}), "meta": 1})
    )

    assert (await driver.call("get_job", "j1")).job_id == "j1"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (("create_job", "Job_1", {"type": "t"}), "job_id 'Job_1' contains characters"),
        (("create_job", "j" * 21, {"type": "t"}), "is 21 characters long"),
        (("upload_image", "b 1", "x.jpg", b"x"), "batch_id 'b 1'"),
        (("iter_job_logs", "j1", "fatal"), "severity must be one of"),
        (("count_batch", ""), "batch_id must be a non-empty string"),
    ],
)
async def test_bad_arguments_fail_before_any_request(
    call: tuple, message: str, driver: ClientDriver, api: respx.MockRouter
) -> None:
    with pytest.raises(ValueError, match=message):
        await driver.call(*call)
    assert not api.calls


async def test_401_names_where_the_key_came_from(api: respx.MockRouter) -> None:
    driver = make_client("async", BASE_URL, API_KEY, key_source="Airflow connection 'rf_prod'")
    api.get("/").mock(return_value=httpx.Response(401, json={"error": "Unauthorized"}))

    with pytest.raises(UnauthorizedError) as caught:
        await driver.call("get_workspace")
    await driver.close()

    assert "the API key from Airflow connection 'rf_prod' was rejected" in str(caught.value)
    assert len(api.calls) == 1


async def test_an_unreachable_api_names_the_base_url_and_where_it_came_from(api: respx.MockRouter) -> None:
    driver = make_client("async", BASE_URL, API_KEY, key_source="Airflow connection 'rf_prod'")
    api.get("/").mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))

    with pytest.raises(TransportError) as caught:
        await driver.call("get_workspace")
    await driver.close()

    assert "Connection refused" in str(caught.value)
    assert f"the API base URL {BASE_URL} comes from Airflow connection 'rf_prod'" in str(caught.value)


@pytest.mark.parametrize(
    ("base_url", "api_key", "message"),
    [
        ("https://api.example.test", "", "api_key must be a non-empty string"),
        ("", API_KEY, "base_url must be a non-empty URL"),
        ("ftp://api.example.test", API_KEY, "base_url must be an http\\(s\\) URL"),
        ("https://api.example.test/?api_key=x", API_KEY, "must not carry a query string"),
    ],
)
def test_client_arguments_are_checked(base_url: str, api_key: str, message: str) -> None:
    from include.roboflow_batch.api import RoboflowClient

    with pytest.raises(ValueError, match=message):
        RoboflowClient(base_url, api_key)


def test_both_clients_offer_the_same_methods() -> None:
    from include.roboflow_batch.api import AsyncRoboflowClient, RoboflowClient

    def public(cls: type) -> set[str]:
        return {name for name in vars(cls) if not name.startswith("_")}

    # Signed-URL transfers happen on workers only, so only the sync client has them.
    transfers = {"upload_file", "download_file", "stream_download"}
    assert public(RoboflowClient) - {"close"} - transfers == public(AsyncRoboflowClient) - {"aclose"}
    assert transfers <= public(RoboflowClient)
    assert not transfers & public(AsyncRoboflowClient)
