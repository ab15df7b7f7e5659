"""In-process emulators on free loopback ports, plus the small servers the tests talk to it with."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from include.roboflow_emulator.app import Emulator
from include.roboflow_emulator.config import EmulatorConfig

API_KEY = "test-api-key"
WORKSPACE = "demo-workspace"
DS = f"/data-staging/v1/external/{WORKSPACE}"
BP = f"/batch-processing/v1/external/{WORKSPACE}"


def png(width: int = 32, height: int = 24, color: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def mp4(frames: int = 10, fps: int = 10) -> bytes:
    """A real, decodable MPEG-4 clip whose frames brighten one step per frame."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(
                np.full((32, 32, 3), (index * 20) % 256, dtype=np.uint8), format="rgb24"
            )
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buffer.getvalue()


class Api:
    """A thin client of the emulator's public API (api_key added to every call)."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.http = httpx.Client(base_url=emulator.url, timeout=10.0)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        params = {"api_key": API_KEY, **kwargs.pop("params", {})}
        return self.http.request(method, path, params=params, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError("condition not met in time")

    def wait_job(self, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
        job: dict[str, Any] = {}

        def done() -> bool:
            nonlocal job
            job = self.get(f"{BP}/jobs/{job_id}").json()["job"]
            return bool(job["isTerminal"])

        self.wait_for(done, timeout)
        return job

    def wait_indexed(self, batch_id: str, timeout: float = 15.0) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []

        def done() -> bool:
            nonlocal shards
            shards = self.get(f"{DS}/batches/{batch_id}/shards", params={"pageSize": 1000}).json()["shards"]
            return bool(shards) and all(s["statusType"] != "info" for s in shards)

        self.wait_for(done, timeout)
        return shards


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def make(**overrides: Any) -> Emulator:
        settings: dict[str, Any] = {
            "port": 0,
            "ingest_delay": 0.05,
            "stage_delay": 0.05,
            "webhook_backoff": 0.05,
        }
        settings.update(overrides)
        emulator = Emulator(EmulatorConfig(**settings)).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def api(make_emulator: Callable[..., Emulator]) -> Api:
    return Api(make_emulator())


@dataclass
class FileServer:
    """Serves `files[path]`; `status[path]` overrides the status; everything else is 404."""

    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)

    def ref(self, name: str, content: bytes | None = None) -> dict[str, str]:
        if content is not None:
            self.files[f"/{name}"] = content
        return {"name": name, "url": f"{self.url}/{name}?X-Signature=secret"}


@dataclass
class WebhookReceiver:
    url: str
    received: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    failures_before_success: int = 0
    stalls_before_success: int = 0  # answers only after this many seconds-long stalls

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        return [body for _, body in self.received if event_type is None or body.get("type") == event_type]


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    holder: dict[str, FileServer] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            fs = holder["fs"]
            path = self.path.split("?", 1)[0]
            body = fs.files.get(path, b"not found")
            status = fs.status.get(path, 200 if path in fs.files else 404)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server, url = _serve(Handler)
    holder["fs"] = FileServer(url)
    yield holder["fs"]
    server.shutdown()
    server.server_close()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    holder: dict[str, WebhookReceiver] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            receiver = holder["r"]
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                failing = receiver.failures_before_success > 0
                if failing:
                    receiver.failures_before_success -= 1
                stalling = receiver.stalls_before_success > 0
                if stalling:
                    receiver.stalls_before_success -= 1
            if stalling:
                time.sleep(1.0)
            self.send_response(500 if failing else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server, url = _serve(Handler)
    holder["r"] = WebhookReceiver(url + "/hook")
    yield holder["r"]
    server.shutdown()
    server.server_close()
