"""The API key and URL signatures never show in errors, tracebacks or log lines."""

from __future__ import annotations

import logging
import pickle
import traceback

import httpx
import pytest
import respx

from include.roboflow_batch.api import RoboflowAPIError
from include.roboflow_batch.api.redaction import redact
from tests.unit.api.client_drivers import ClientDriver
from tests.unit.api.conftest import API_KEY

DS = "/data-staging/v1/external/ws"
SIGNATURE = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"GET https://api.roboflow.com/x?api_key={API_KEY}&a=1", API_KEY),
        (f"https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA%2F2026&X-Amz-Signature={SIGNATURE}", SIGNATURE),
        ("https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIAEXAMPLE%2F2026&X-Amz-Date=1", "AKIAEXAMPLE"),
        (f"https://storage.googleapis.com/b/o?X-Goog-Signature={SIGNATURE}", SIGNATURE),
        ("https://storage.googleapis.com/b/o?X-Goog-Credential=sa%40p.iam&X-Goog-Date=1", "sa%40p.iam"),
        (f"https://acc.blob.core.windows.net/c/b?sv=2024&sig={SIGNATURE}", SIGNATURE),
        (f"https://cdn.example.com/o?Expires=1&Signature={SIGNATURE}&Key-Pair-Id=K", SIGNATURE),
        (f"http://127.0.0.1:8899/blob/x?expires=1767225600&signature={SIGNATURE}", SIGNATURE),
        (f"http://127.0.0.1:8899/blob/x?expires=1767225600&signature={SIGNATURE}", "1767225600"),
        (f"http://127.0.0.1:1/storage/f?X-Emulator-Expires=1&X-Emulator-Signature={SIGNATURE}", SIGNATURE),
        (f"<Error><SignatureProvided>{SIGNATURE}</SignatureProvided></Error>", SIGNATURE),
        (f'{{"api_key": "{API_KEY}"}}', API_KEY),
        (f"url=https%3A%2F%2Fx%3Fapi_key%3D{API_KEY}", API_KEY),
    ],
)
def test_redact_removes_secrets(text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert "***" in redact(text)


def test_redact_keeps_ordinary_text() -> None:
    text = "GET /batches?pageSize=5&nextPageToken=abc&X-Amz-SignedHeaders=host design signature-less"
    assert redact(text) == text


def _everything_visible(error: BaseException) -> str:
    chain = []
    current: BaseException | None = error
    while current is not None:
        chain += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    formatted = "".join(traceback.format_exception(error))
    return "\n".join([*chain, formatted, repr(pickle.loads(pickle.dumps(error)))])


async def test_secrets_stay_out_of_errors_and_logs(
    driver: ClientDriver, api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    for logger in ("", "httpx", "httpcore"):  # Airflow's logging set-up quietens httpx
        caplog.set_level(logging.DEBUG, logger=logger)
    signed = f"https://storage.example.test/o?X-Goog-Signature={SIGNATURE}"

    def echo(request: httpx.Request) -> httpx.Response:
        # A careless server echoing the request URL, the key and a signed URL back.
        return httpx.Response(500, json={"error": f"failed {request.url} key={API_KEY} fetching {signed}"})

    api.get(f"{DS}/batches/b1").mock(side_effect=echo)

    with pytest.raises(RoboflowAPIError) as caught:
        await driver.call("get_batch", "b1")

    visible = _everything_visible(caught.value) + "\n".join(
        f"{r.name} {r.getMessage()}" for r in caplog.records
    )
    assert "failed" in visible
    assert any(r.name == "httpx" for r in caplog.records), "httpx request logs were captured"
    assert API_KEY not in visible
    assert SIGNATURE not in visible


async def test_transport_errors_do_not_chain_httpx_exceptions(
    driver: ClientDriver, api: respx.MockRouter
) -> None:
    api.get(f"{DS}/batches/b1").mock(side_effect=httpx.ConnectError(f"cannot reach /?api_key={API_KEY}"))

    with pytest.raises(RoboflowAPIError) as caught:
        await driver.call("get_batch", "b1")

    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert API_KEY not in _everything_visible(caught.value)


def test_client_repr_hides_the_key() -> None:
    from include.roboflow_batch.api import RoboflowClient

    with RoboflowClient("https://api.example.test", API_KEY) as client:
        assert API_KEY not in repr(client)
        assert API_KEY not in repr(client._transport)


def test_signed_urls_are_not_in_model_reprs() -> None:
    from include.roboflow_batch.api.models import FileMetadata, SignedURLDetails

    details = SignedURLDetails.model_validate(
        {"uploadURL": f"https://x.test/u?X-Goog-Signature={SIGNATURE}", "extensionHeaders": {}}
    )
    file = FileMetadata.model_validate(
        {"downloadURL": f"https://x.test/d?sig={SIGNATURE}", "fileName": "a", "contentType": "metadata"}
    )
    assert SIGNATURE not in repr(details) + str(details) + repr(file) + str(file)
