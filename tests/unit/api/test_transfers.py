"""Signed-URL uploads and downloads: streamed, atomic, retried, never leaking the URL."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx

from include.roboflow_batch.api import RoboflowAPIError, TransportError
from include.roboflow_batch.api.models import SignedURLDetails
from include.roboflow_batch.api.signed_url_files import CHUNK_SIZE
from tests.unit.api.client_drivers import ClientDriver
from tests.unit.api.conftest import API_KEY

# Only the sync client moves files (workers do; the triggerer only polls).
pytestmark = pytest.mark.parametrize("driver", ["sync"], indirect=True)

SIGNATURE = "feedface0123456789"
UPLOAD_URL = f"https://storage.example.test/bucket/obj.tar?X-Goog-Signature={SIGNATURE}"
DOWNLOAD_URL = f"https://storage.example.test/bucket/result.jsonl?X-Goog-Signature={SIGNATURE}"


@pytest.fixture
def storage() -> respx.MockRouter:
    with respx.mock(base_url="https://storage.example.test", assert_all_called=False) as router:
        yield router


def _details() -> SignedURLDetails:
    return SignedURLDetails.model_validate(
        {"uploadURL": UPLOAD_URL, "extensionHeaders": {"x-goog-meta-ingest": "i1"}}
    )


async def test_upload_streams_the_file_with_length_and_extension_headers(
    driver: ClientDriver, storage: respx.MockRouter, tmp_path: Path
) -> None:
    source = tmp_path / "shard.tar"
    data = bytes(range(256)) * (CHUNK_SIZE // 256 * 2 + 3)  # more than two chunks
    source.write_bytes(data)
    route = storage.put("/bucket/obj.tar").mock(return_value=httpx.Response(200))

    sent = await driver.call("upload_file", _details(), source)

    request = route.calls.last.request
    assert sent == len(data)
    assert request.content == data
    assert request.headers["content-length"] == str(len(data))
    assert request.headers["x-goog-meta-ingest"] == "i1"
    assert "content-type" not in request.headers
    assert "transfer-encoding" not in request.headers
    assert "api_key" not in str(request.url) and API_KEY not in str(request.headers)


async def test_upload_is_retried_from_the_start_of_the_file(
    driver: ClientDriver, storage: respx.MockRouter, tmp_path: Path
) -> None:
    source = tmp_path / "v.mp4"
    source.write_bytes(b"video-bytes")
    route = storage.put("/bucket/obj.tar").mock(
        side_effect=[httpx.Response(503), httpx.WriteError("reset"), httpx.Response(200)]
    )

    await driver.call("upload_file", _details(), source)

    assert route.call_count == 3
    assert route.calls.last.request.content == b"video-bytes"


async def test_upload_rejection_does_not_show_the_signed_url(
    driver: ClientDriver, storage: respx.MockRouter, tmp_path: Path
) -> None:
    source = tmp_path / "a.tar"
    source.write_bytes(b"x")
    storage.put("/bucket/obj.tar").mock(
        return_value=httpx.Response(
            403,
            text=f"<Error><Code>SignatureDoesNotMatch</Code><SignatureProvided>{SIGNATURE}</SignatureProvided>"
            f"<Details>{UPLOAD_URL}</Details></Error>",
        )
    )

    with pytest.raises(RoboflowAPIError) as caught:
        await driver.call("upload_file", _details(), source)

    assert caught.value.status_code == 403
    assert "SignatureDoesNotMatch" in str(caught.value) and "'a.tar'" in str(caught.value)
    assert SIGNATURE not in str(caught.value) + repr(caught.value)


async def test_upload_of_a_missing_file_names_it(driver: ClientDriver, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.tar"):
        await driver.call("upload_file", _details(), tmp_path / "missing.tar")


async def test_download_writes_the_whole_file_atomically(
    driver: ClientDriver, storage: respx.MockRouter, tmp_path: Path
) -> None:
    data = b"{}\n" * 100_000
    route = storage.get("/bucket/result.jsonl").mock(
        side_effect=[httpx.RemoteProtocolError("peer closed"), httpx.Response(200, content=data)]
    )
    dest = tmp_path / "out" / "result.jsonl"

    written = await driver.call("download_file", DOWNLOAD_URL, dest)

    assert written == len(data)
    assert dest.read_bytes() == data
    assert route.call_count == 2
    assert sorted(p.name for p in dest.parent.iterdir()) == ["result.jsonl"]
    assert "api_key" not in str(route.calls.last.request.url)


async def test_a_failed_download_leaves_no_file_behind(
    driver: ClientDriver, storage: respx.MockRouter, tmp_path: Path
) -> None:
    storage.get("/bucket/result.jsonl").mock(side_effect=httpx.ReadTimeout("stalled"))
    dest = tmp_path / "result.jsonl"

    with pytest.raises(TransportError, match="timed out") as caught:
        await driver.call("download_file", DOWNLOAD_URL, dest)

    assert list(tmp_path.iterdir()) == []
    assert SIGNATURE not in str(caught.value)


async def test_an_expired_download_url_is_not_retried(
    driver: ClientDriver, storage: respx.MockRouter, tmp_path: Path
) -> None:
    route = storage.get("/bucket/result.jsonl").mock(
        return_value=httpx.Response(403, text="Request has expired")
    )

    with pytest.raises(RoboflowAPIError, match=r"Request has expired.*may have expired"):
        await driver.call("download_file", DOWNLOAD_URL, tmp_path / "r.jsonl")

    assert route.call_count == 1
    assert list(tmp_path.iterdir()) == []
