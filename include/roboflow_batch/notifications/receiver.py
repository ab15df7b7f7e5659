"""The webhook receiver's HTTP surface (a FastAPI app the plugin mounts on the API server).

Order of checks, cheapest and safest first: the publishable key (before a byte of the body is read),
the declared and the actual body size (413 over ``MAX_BODY_BYTES``, without reading further), then
parsing. Error messages are fixed texts or field names: nothing the caller sent is echoed back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from include.roboflow_batch.notifications.events import MAX_BODY_BYTES, Notification, key_matches, watch_key

log = logging.getLogger(__name__)

KeyLookup = Callable[[], str | None]
Recorder = Callable[[Notification], bool]
WatchLookup = Callable[[str], dict[str, Any]]


async def read_limited_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refusing (413) a declared or streamed size over ``limit`` without reading more."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "invalid Content-Length header")
        if int(declared) > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_notification(body: bytes) -> Notification:
    try:
        return Notification.model_validate_json(body)
    except ValidationError as error:
        # Only our own field names: the values (the caller's input) are never repeated.
        fields = sorted({".".join(str(part) for part in e["loc"]) or "body" for e in error.errors()})
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"not a Roboflow notification; check field(s): {', '.join(fields[:10])}",
        ) from None


def create_receiver_app(key_lookup: KeyLookup, recorder: Recorder, watch_lookup: WatchLookup) -> FastAPI:
    """``POST /webhooks`` (Roboflow's deliveries) and ``GET /webhooks/watch`` (the deferred waits)."""
    app = FastAPI(title="Roboflow webhooks", docs_url=None, redoc_url=None, openapi_url=None)

    def require_key(request: Request) -> None:
        expected = key_lookup()
        if not expected:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "no publishable key configured")
        if not key_matches(request.headers.get("authorization"), expected):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong or missing publishable key")

    @app.post("/webhooks", status_code=status.HTTP_202_ACCEPTED)
    async def receive(request: Request) -> dict[str, str]:
        require_key(request)
        notification = parse_notification(await read_limited_body(request))
        recorded = await run_in_threadpool(recorder, notification)
        if not recorded:
            return {"status": "duplicate", "event_id": notification.event_id}
        log.info(
            "Roboflow notification %s (%s) batch=%s job=%s state=%s attempt=%d",
            notification.event_id,
            notification.type,
            notification.batch_id,
            notification.job_id,
            notification.job_state,
            notification.delivery_attempt,
        )
        return {"status": "accepted", "event_id": notification.event_id}

    @app.get("/webhooks/watch")
    async def watch(
        request: Request, batch_id: str | None = None, job_id: str | None = None
    ) -> dict[str, Any]:
        require_key(request)
        try:
            key = watch_key(batch_id=batch_id, job_id=job_id)
        except ValueError:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, "give exactly one of batch_id, job_id") from None
        return await run_in_threadpool(watch_lookup, key)

    return app
