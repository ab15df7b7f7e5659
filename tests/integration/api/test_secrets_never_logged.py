"""Against the emulator: the API key and URL signatures stay out of logs, errors and tracebacks."""

from __future__ import annotations

import logging
import re
import traceback
from pathlib import Path

import pytest

from include.roboflow_batch.api import RoboflowAPIError
from include.roboflow_emulator.testing import EmulatorHandle
from tests.integration.api.conftest import png, wait_for
from tests.unit.api.client_drivers import ClientDriver

pytestmark = pytest.mark.integration

SIGNATURE_VALUE = re.compile(r"(?i)signature=([0-9a-f]{16,})")


def _visible(error: BaseException) -> str:
    texts = []
    current: BaseException | None = error
    while current is not None:
        texts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return "\n".join([*texts, "".join(traceback.format_exception(error))])


async def test_key_and_signatures_stay_out_of_logs_and_errors(
    live: ClientDriver, emulator: EmulatorHandle, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "include.roboflow_batch"):
        caplog.set_level(logging.DEBUG, logger=name)
    await live.call("upload_image", "secret-b", "a.png", png(1))

    async def staged() -> bool:
        return await live.call("count_batch", "secret-b") == 1

    await wait_for(staged)
    emulator.set_faults(rate=0.3, statuses=[429, 500, 502, 503], seed=3)
    (file,) = await live.call("iter_batch_files", "secret-b")
    # Signed-URL transfers are the sync client's only (workers move files; the triggerer only polls).
    transfers = not live.is_async
    if transfers:
        await live.call("download_file", file.download_url, tmp_path / "a.png")
    signatures = set(SIGNATURE_VALUE.findall(file.download_url))
    assert signatures, "the emulator hands out signed URLs"

    errors: list[BaseException] = []
    tampered = file.download_url.replace("X-Emulator-Signature=", "X-Emulator-Signature=00")
    calls: list[tuple[object, ...]] = [("get_batch", "missing-batch"), ("roboql_ingest", "q-b", "colour:red")]
    if transfers:
        calls.insert(0, ("download_file", tampered, tmp_path / "b.png"))
    for call in calls:
        with pytest.raises(RoboflowAPIError) as caught:
            await live.call(*call)
        errors.append(caught.value)
    emulator.clear_faults()  # a signed-URL request carries no id, so it is not retried on 5xx
    details = await live.call("request_bulk_image_upload", "secret-b2")
    signatures |= set(SIGNATURE_VALUE.findall(details.upload_url))

    logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in caplog.records)
    visible = logged + "\n".join(_visible(error) for error in errors) + repr(details) + repr(file)
    assert "HTTP Request: GET" in logged, "httpx's request log lines were captured"
    assert "api_key=***" in logged
    assert emulator.api_key not in visible
    for signature in signatures:
        assert signature not in visible
