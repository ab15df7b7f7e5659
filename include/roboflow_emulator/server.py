"""The HTTP layer: a threading stdlib server (raw sockets make dropped connections possible).

Per public API request: count it, draw faults (a faulted request never reaches its handler),
authenticate, run the handler, and with `dropAfterWriteRate` drop the response of an applied write.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from include.roboflow_emulator.errors import ApiError
from include.roboflow_emulator.http_types import API, CONTROL, STORAGE, Request, Response, Route

if TYPE_CHECKING:
    from include.roboflow_emulator.app import Emulator

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1100 * 1024 * 1024
FAULT_MESSAGES = {
    429: "Too many requests: rate limit exceeded, retry later.",
    500: "Internal server error.",
    502: "Bad gateway.",
    503: "Service temporarily unavailable.",
}


class _BodyTooLarge(Exception):
    pass


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EmulatorHTTPServer
    server_version = "roboflow-emulator"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's algorithm plus the
        # client's delayed ACK stall every kept-alive response by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY_BYTES:
                    raise _BodyTooLarge
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise _BodyTooLarge
        return self.rfile.read(length) if length else b""

    def _drop(self) -> None:
        """Close the connection without answering, as a crashed proxy or server would."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def _handle(self) -> None:
        app = self.server.app
        parts = urlsplit(self.path)
        try:
            body = self._read_body()
        except (_BodyTooLarge, ValueError):
            self.close_connection = True
            self._send(Response.error(413, "Request body too large or malformed."))
            return
        request = Request(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        route, allowed = app.router.match(request)
        if route is None:
            status = 405 if allowed else 404
            message = f"Method {self.command} not allowed here." if allowed else f"No route for {parts.path}."
            self._send(Response.error(status, message))
            return
        if route.kind != CONTROL:
            with app.store.lock:
                app.store.requests[route.name] += 1
        decision = None
        if route.kind == STORAGE and self.command == "GET":
            delay_ms = app.faults.settings.download_latency_ms
            if delay_ms:
                time.sleep(delay_ms / 1000.0)
        if route.kind == API:
            decision = app.faults.decide(is_write=self.command != "GET")
            if decision.latency_seconds:
                time.sleep(decision.latency_seconds)
            if decision.drop or decision.status is not None:
                with app.store.lock:
                    app.store.faults_injected[f"{decision.kind} {route.name}"] += 1
                if decision.drop:
                    self._drop()
                    return
                status = decision.status or 500
                headers = {"Retry-After": "1"} if status == 429 else {}
                self._send(Response.error(status, FAULT_MESSAGES[status], headers))
                return
        try:
            app.authorize(route, request)
            response = route.handler(request)
        except ApiError as exc:
            response = Response.error(exc.status, exc.message, exc.headers)
        except Exception:
            log.exception("Unhandled error on %s %s", self.command, parts.path)
            response = Response.error(500, "Internal server error.")
        if decision is not None and decision.drop_after_write and response.status < 400:
            with app.store.lock:
                app.store.faults_injected[f"dropAfterWrite {route.name}"] += 1
            self._drop()
            return
        self._send(response)


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self._routes = routes

    def match(self, request: Request) -> tuple[Route | None, bool]:
        """The route for the request (params filled in), and whether the path exists for another method."""
        path_known = False
        for route in self._routes:
            found = route.regex.match(request.path)
            if found is None:
                continue
            if route.method != request.method:
                path_known = True
                continue
            request.params = found.groupdict()
            return route, True
        return None, path_known


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], app: Emulator) -> None:
        self.app = app
        super().__init__(address, EmulatorRequestHandler)
