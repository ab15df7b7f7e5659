"""The storage behind signed URLs: PUT targets of D8/D9 and GET targets of D5 `downloadURL`s.

Like cloud storage these answer 403 to an expired or tampered signature, and uploads must carry
every `extensionHeaders` entry that was handed out with the URL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.roboflow_emulator.errors import ApiError
from include.roboflow_emulator.http_types import STORAGE, Request, Response, Route, RouteTable
from include.roboflow_emulator.signing import SignatureError

if TYPE_CHECKING:
    from include.roboflow_emulator.app import Emulator


def routes(app: Emulator) -> list[Route]:
    storage = RouteTable(STORAGE, "/storage")

    def verify(request: Request) -> None:
        try:
            app.signer.verify(request.method, request.path, request.query)
        except SignatureError as exc:
            raise ApiError(403, f"Access denied: {exc}") from exc

    @storage.put("/uploads/{uploadId}")
    def upload(request: Request) -> Response:
        verify(request)
        spec = app.ingest.upload_spec(request.params["uploadId"])
        for name, expected in spec["headers"].items():
            got = request.headers.get(name.lower())
            if got is None:
                raise ApiError(403, f"Access denied: the signed URL requires header {name}.")
            if got != expected:
                raise ApiError(403, f"Access denied: header {name} does not match the signed value.")
        if len(request.body) > spec["max_bytes"]:
            raise ApiError(
                400, f"Upload of {len(request.body)} bytes exceeds the allowed {spec['max_bytes']}."
            )
        app.ingest.receive_upload(request.params["uploadId"], request.body)
        return Response(200, b"", "text/plain")

    @storage.get("/files/{batchId}/{part}/{name}")
    def download(request: Request) -> Response:
        verify(request)
        batch_id, part, name = request.params["batchId"], request.params["part"], request.params["name"]
        with app.store.lock:
            batch = app.ingest.get_batch(batch_id)
            stored = batch.files.get(("" if part == "-" else part, name))
        if stored is None:
            raise ApiError(404, f"File {name!r} is no longer in batch {batch_id!r}.")
        return Response(200, stored.content, "application/octet-stream")

    return storage.routes
