"""A tiny webhook receiver on loopback that records every delivery it gets."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


class WebhookReceiver:
    def __init__(self) -> None:
        self._deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver._deliveries.append(Delivery(self.path, headers, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:  # keep test output quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    def deliveries(self, path: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self._deliveries if path is None or d.path == path]

    def wait_for(
        self,
        path: str,
        predicate: Callable[[list[Delivery]], bool],
        timeout: float = 20.0,
    ) -> list[Delivery]:
        """Wait until the deliveries to `path` satisfy `predicate`; return them either way."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.deliveries(path)
            if predicate(found) or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
