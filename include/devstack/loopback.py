"""HTTP servers that tests and benches start on a free 127.0.0.1 port, in a thread of their own."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    """Static files, without a log line per request."""

    def log_message(self, *args: Any) -> None:
        return None


@contextmanager
def serving(handler: Callable[..., http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` (a request handler class or factory) served on loopback; yields the base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def serving_folder(root: Path) -> AbstractContextManager[str]:
    """The files under ``root`` served on loopback (a context manager yielding the base URL)."""
    return serving(functools.partial(QuietFiles, directory=str(root)))


def serving_bodies(
    body_for: Callable[[str], bytes | None], content_type: str = "application/octet-stream"
) -> AbstractContextManager[str]:
    """``body_for(path)`` served on loopback (404 when it returns None), over kept-alive connections;
    a context manager yielding the base URL. The path has its query removed."""

    class Bodies(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = body_for(self.path.split("?")[0])
            self.send_response(404 if body is None else 200)
            payload = b'{"error": "no such object"}' if body is None else body
            self.send_header("Content-Type", "application/json" if body is None else content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            return None

    return serving(Bodies)
