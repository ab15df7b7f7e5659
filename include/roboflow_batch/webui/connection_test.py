"""Makes the Airflow 3.3 UI's connection **Test** button work for ``roboflow`` connections.

The UI posts ``"port": 0`` for a form whose port field is hidden; the API server compares that with
the stored connection (no port), decides the destination differs and answers 400 "Bad Request".
For a ``roboflow`` connection the port is never used (the base URL carries it), so this middleware
drops a zero or empty port from ``POST .../api/v2/connections/test`` before Airflow reads the body,
and records the id being edited so the hook's message names it rather than Airflow's temporary id.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from include.roboflow_batch.hooks.connection_test import connection_under_test

TEST_PATH_SUFFIX = "/api/v2/connections/test"
CONN_TYPE = "roboflow"
MAX_TEST_BODY = 1024 * 1024  # a connection form is a few KiB; larger bodies pass through untouched


def rewrite_test_body(body: bytes) -> tuple[bytes, str | None]:
    """The body without a meaningless port, and the connection id, for a ``roboflow`` test request."""
    try:
        data = json.loads(body)
    except ValueError:
        return body, None
    if not isinstance(data, dict) or data.get("conn_type") != CONN_TYPE:
        return body, None
    if data.get("port") in (0, "0", "", None):
        data.pop("port", None)
    conn_id = data.get("connection_id")
    return json.dumps(data).encode(), conn_id if isinstance(conn_id, str) else None


class RoboflowConnectionTestMiddleware:
    """Pure ASGI middleware: touches only ``POST`` requests to the connection-test route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith(TEST_PATH_SUFFIX)
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message), send)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > MAX_TEST_BODY:
                await self.app(scope, _replay(chunks, None, receive if more else None), send)
                return
        body, conn_id = rewrite_test_body(b"".join(chunks))
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        token = connection_under_test.set(conn_id)
        try:
            await self.app({**scope, "headers": headers}, _replay([body], None), send)
        finally:
            connection_under_test.reset(token)


def _replay(chunks: list[bytes], final: Message | None, rest: Receive | None = None) -> Receive:
    """A ``receive`` that hands out ``chunks`` again, then ``final`` or the rest of the original."""
    pending: list[Any] = list(chunks)

    async def receive() -> Message:
        if pending:
            body = pending.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(pending) or rest is not None}
        if rest is not None:
            return await rest()
        return final or {"type": "http.disconnect"}

    return receive
