"""Signed-URL downloads: streamed to the consumer, retried from the first byte, connections reused,
and the URL (a bearer secret) never in an error. Served by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from include.roboflow_batch.api.downloads import SignedUrlDownloads
from include.roboflow_batch.api.errors import RoboflowAPIError, TransportError
from tests.unit.api.client_drivers import FAST_RETRIES

BODY = bytes(range(256)) * 4096  # 1 MiB


class Server:
    def __init__(self) -> None:
        self.requests = 0
        self.connections: set[tuple[str, int]] = set()
        self.paths: list[str] = []
        self.truncate_first = False
        self.status = 200
        self.lock = threading.Lock()  # handlers run on several threads at once
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with owner.lock:
                    owner.requests += 1
                    number = owner.requests
                    owner.paths.append(self.path)
                    owner.connections.add(self.client_address)
                if owner.status != 200:
                    body = b"<Error><Code>AccessDenied</Code></Error>"
                    self.send_response(owner.status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                if owner.truncate_first and number == 1:
                    self.wfile.write(BODY[:1000])
                    self.close_connection = True
                    return
                self.wfile.write(BODY)

            def log_message(self, *args: Any) -> None:
                return None

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/blob.bin?X-Goog-Signature=topsecret"


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.http.shutdown()
    running.http.server_close()


def collect(chunks: Iterator[bytes]) -> bytes:
    return b"".join(chunks)


def test_body_is_streamed_and_connections_are_reused(server: Server) -> None:
    downloads = SignedUrlDownloads(10, FAST_RETRIES)
    for _ in range(5):
        assert downloads.stream(server.url, collect) == BODY
    assert server.requests == 5
    assert len(server.connections) == 1  # one kept-alive connection served every request


def test_a_body_cut_short_is_fetched_again_from_the_first_byte(server: Server) -> None:
    server.truncate_first = True
    attempts: list[int] = []

    def consume(chunks: Iterator[bytes]) -> bytes:
        attempts.append(1)
        return collect(chunks)

    assert SignedUrlDownloads(10, FAST_RETRIES).stream(server.url, consume) == BODY
    assert len(attempts) == 2


def test_a_partly_read_body_does_not_spoil_the_next_request(server: Server) -> None:
    downloads = SignedUrlDownloads(10, FAST_RETRIES)
    assert downloads.stream(server.url, lambda chunks: next(chunks)[:3]) == BODY[:3]
    assert downloads.stream(server.url, collect) == BODY


def test_an_error_status_names_the_operation_but_never_the_signature(server: Server) -> None:
    server.status = 403
    with pytest.raises(RoboflowAPIError) as failure:
        SignedUrlDownloads(10, FAST_RETRIES).stream(server.url, collect)
    assert failure.value.status_code == 403
    assert "topsecret" not in str(failure.value)


def test_a_refused_connection_is_a_transport_error_without_the_url() -> None:
    with pytest.raises(TransportError) as failure:
        SignedUrlDownloads(2, FAST_RETRIES).stream("http://127.0.0.1:9/x?X-Goog-Signature=topsecret", collect)
    assert "topsecret" not in str(failure.value)
    assert failure.value.request_sent is False


def test_consumer_errors_are_not_retried(server: Server) -> None:
    calls: list[int] = []

    def broken(chunks: Iterator[bytes]) -> None:
        calls.append(1)
        raise ValueError("unsafe member")

    with pytest.raises(ValueError, match="unsafe member"):
        SignedUrlDownloads(10, FAST_RETRIES).stream(server.url, broken)
    assert calls == [1]


def test_the_request_target_is_sent_as_signed_and_unusual_characters_are_encoded(server: Server) -> None:
    downloads = SignedUrlDownloads(10, FAST_RETRIES)
    base = server.url.split("/blob.bin")[0]
    for _ in range(2):  # the host's first request and a later one take the same path
        downloads.stream(f"{base}/out/cam__01.png?X-Goog-Signature=ab%2Fcd&X-Goog-Expires=60", collect)
    downloads.stream(f"{base}/out/cam 02 é.png?X-Goog-Signature=ab", collect)
    assert server.paths == [
        "/out/cam__01.png?X-Goog-Signature=ab%2Fcd&X-Goog-Expires=60",
        "/out/cam__01.png?X-Goog-Signature=ab%2Fcd&X-Goog-Expires=60",
        "/out/cam%2002%20%C3%A9.png?X-Goog-Signature=ab",
    ]


def test_many_threads_share_one_downloader_and_each_gets_its_whole_body(server: Server) -> None:
    server.truncate_first = True  # one thread's first attempt is cut short and retried
    downloads = SignedUrlDownloads(10, FAST_RETRIES)
    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(lambda _: downloads.stream(server.url, collect), range(40)))
    assert bodies == [BODY] * 40
    assert server.requests == 41


def test_more_hosts_than_pooled_ones_are_all_served() -> None:
    servers = [Server() for _ in range(18)]  # the pool manager keeps 16 hosts' pools
    try:
        downloads = SignedUrlDownloads(10, FAST_RETRIES)
        for _ in range(2):
            for each in servers:
                assert downloads.stream(each.url, collect) == BODY
        assert all(each.requests == 2 for each in servers)
    finally:
        for each in servers:
            each.http.shutdown()
            each.http.server_close()
