"""Fixtures for client tests against the emulator over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from include.devstack.loopback import serving_folder
from include.roboflow_batch.api import RetryPolicy
from include.roboflow_emulator.testing import EmulatorHandle
from tests.unit.api.client_drivers import CLIENT_KINDS, ClientDriver, make_client

# Short waits keep the suite fast; many attempts keep 30 % fault rates from exhausting a call.
LIVE_RETRIES = RetryPolicy(
    max_retries=12, initial_backoff=0.01, max_backoff=0.05, jitter=0.01, max_retry_after=2.0
)


@pytest.fixture
def emulator(roboflow_emulator: EmulatorHandle) -> Iterator[EmulatorHandle]:
    """The session emulator, emptied and without faults for this test."""
    roboflow_emulator.reset()
    roboflow_emulator.clear_faults()
    yield roboflow_emulator
    roboflow_emulator.clear_faults()


@pytest.fixture(params=CLIENT_KINDS)
async def live(request: pytest.FixtureRequest, emulator: EmulatorHandle) -> AsyncIterator[ClientDriver]:
    """A sync or async client talking to the emulator."""
    driver = make_client(request.param, emulator.base_url, emulator.api_key, retry_policy=LIVE_RETRIES)
    yield driver
    await driver.close()


def png(index: int, size: int = 16) -> bytes:
    """A small, distinct PNG image."""
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), ((index * 37) % 256, (index * 91) % 256, 128)).save(buffer, "PNG")
    return buffer.getvalue()


def mp4(frames: int = 3, size: int = 16) -> bytes:
    """A tiny decodable H.264 MP4 (the emulator rejects files it cannot decode as videos)."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=1)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for index in range(frames):
            image = Image.new("RGB", (size, size), ((index * 80) % 256, 64, 128))
            container.mux(stream.encode(av.VideoFrame.from_image(image)))
        container.mux(stream.encode())
    return buffer.getvalue()


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static file server on loopback (a trusted domain for the emulator): (base URL, root dir)."""
    root = tmp_path / "served"
    root.mkdir()
    with serving_folder(root) as base:
        yield base, root


async def wait_for(
    check: Callable[[], Awaitable[bool]], timeout: float = 15.0, interval: float = 0.05
) -> None:
    """Poll ``check`` until it is true; fail the test with a clear message otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


def api_requests(emulator: EmulatorHandle) -> dict[str, int]:
    """Requests per public API route so far (control calls such as this one left out)."""
    return {
        route: count
        for route, count in emulator.state()["requests"].items()
        if not route.split(" ", 1)[1].startswith("/__emulator__")
    }
