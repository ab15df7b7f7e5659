"""Data Staging routes D1-D12 (docs/roboflow-api.md §2), under /data-staging/v1/external/{workspace}."""

from __future__ import annotations

import email.message
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from include.roboflow_emulator.errors import bad_request
from include.roboflow_emulator.http_types import API, Handler, Request, Response, Route, RouteTable
from include.roboflow_emulator.pagination import PageQuery
from include.roboflow_emulator.state import MULTIPART_BATCH, Batch, Shard, StoredFile, omit_unset

if TYPE_CHECKING:
    from include.roboflow_emulator.app import Emulator

PREFIX = "/data-staging/v1/external/{workspace}"
BATCH = "/batches/{batchId}"


def single_file_from_multipart(request: Request) -> tuple[str | None, bytes]:
    """The one file of a multipart/form-data body, whatever its field name (the client uses the basename).

    Split on the boundary directly: the stdlib e-mail parser takes seconds on a 20 MiB image.
    """
    content_type = request.headers.get("content-type", "")
    header = email.message.Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if header.get_content_type() != "multipart/form-data" or not isinstance(boundary, str) or not boundary:
        raise bad_request("Send the image as multipart/form-data with one file field.")
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = request.body.split(delimiter)
    files: list[tuple[str | None, bytes]] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, separator, content = chunk.partition(b"\r\n\r\n")
        if not separator:
            raise bad_request("The multipart/form-data body could not be parsed (a part has no header end).")
        part = email.message.Message()
        for line in head.decode("latin-1").strip().split("\r\n"):
            name, _, value = line.partition(":")
            part[name.strip()] = value.strip()
        if part.get_content_disposition() == "form-data":
            files.append((part.get_filename(), content.removesuffix(b"\r\n")))
    if len(files) != 1:
        raise bad_request(f"Expected exactly one file field in the multipart body, found {len(files)}.")
    return files[0]


def routes(app: Emulator) -> list[Route]:
    ingest = app.ingest
    api = RouteTable(API, PREFIX)

    def file_json(batch: Batch, stored: StoredFile) -> dict[str, Any]:
        path = f"/storage/files/{quote(batch.batch_id)}/{quote(stored.part_name or '-', safe='')}/" + quote(
            stored.file_name, safe=""
        )
        return omit_unset(
            {
                "downloadURL": app.signer.sign("GET", path, app.config.signed_url_ttl),
                "fileName": stored.file_name,
                "contentType": stored.content_type,
                "partName": stored.part_name,
                "shardId": stored.shard_id,
                "nestedContentType": stored.nested_content_type,
            }
        )

    def part_filter(batch: Batch, request: Request) -> str | None:
        part_name = request.query.get("partName") or None
        if part_name is None:
            return None
        if batch.batch_type != MULTIPART_BATCH:
            raise bad_request(
                f"partName given, but batch {batch.batch_id!r} is a {batch.batch_type}, not multipart."
            )
        if part_name not in batch.parts:
            raise bad_request(
                f"Batch {batch.batch_id!r} has no part {part_name!r}; parts: {sorted(batch.parts)}."
            )
        return part_name

    @api.get("/batches")
    def list_batches(request: Request) -> Response:
        page = PageQuery.of(request)
        with app.store.lock:
            now = app.store.clock.now()
            batches = sorted(
                (b for b in app.store.batches.values() if b.expiry > now),
                key=lambda b: (b.created, b.batch_id),
            )
            return page.response("batches", batches, Batch.to_json)

    @api.get(BATCH)
    def get_batch(request: Request) -> Response:
        with app.store.lock:
            return Response.json({"batch": ingest.get_batch(request.params["batchId"]).to_json()})

    @api.get(BATCH + "/count")
    def count(request: Request) -> Response:
        with app.store.lock:
            batch = ingest.get_batch(request.params["batchId"])
            return Response.json({"count": len(batch.sorted_files(part_filter(batch, request)))})

    @api.get(BATCH + "/parts")
    def parts(request: Request) -> Response:
        with app.store.lock:
            batch = ingest.get_batch(request.params["batchId"])
            return Response.json({"batchParts": [p.to_json() for p in batch.parts.values()]})

    @api.get(BATCH + "/list")
    def list_files(request: Request) -> Response:
        page = PageQuery.of(request)
        with app.store.lock:
            batch = ingest.get_batch(request.params["batchId"])
            files = batch.sorted_files(part_filter(batch, request))
        return page.response("filesMetadata", files, lambda stored: file_json(batch, stored))

    @api.get(BATCH + "/shards")
    def shards(request: Request) -> Response:
        page = PageQuery.of(request)
        with app.store.lock:
            batch = ingest.get_batch(request.params["batchId"])
            return page.response("shards", batch.shards, Shard.to_json)

    @api.post(BATCH + "/upload/image")
    def upload_image(request: Request) -> Response:
        file_name = request.query.get("fileName")
        if not file_name:
            raise bad_request("Query parameter fileName is required.")
        _, content = single_file_from_multipart(request)
        ingest.upload_image(request.params["batchId"], file_name, content, request.query.get("displayName"))
        return Response.json({"status": "ok"})

    @api.post(BATCH + "/upload/video")
    def upload_video(request: Request) -> Response:
        details = ingest.request_video_upload(
            request.params["batchId"], request.query.get("fileName", ""), request.query.get("displayName")
        )
        return Response.json(details)

    @api.post(BATCH + "/bulk-upload/image-files")
    def bulk_image_files(request: Request) -> Response:
        return Response.json(
            ingest.request_bulk_upload(request.params["batchId"], request.query.get("displayName"))
        )

    def references(content_type: str) -> Handler:
        def handler(request: Request) -> Response:
            body = request.json()
            if not isinstance(body, dict):
                raise bad_request("The request body must be a JSON object.")
            return Response.json(
                ingest.ingest_references(
                    request.params["batchId"], body, content_type, request.query.get("displayName")
                )
            )

        return handler

    @api.post(BATCH + "/roboql-ingest")
    def roboql(request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        return Response.json(ingest.roboql_ingest(request.params["batchId"], body))

    api.add("POST", BATCH + "/bulk-upload/image-references", references("images"))
    api.add("POST", BATCH + "/bulk-upload/video-references", references("videos"))
    return api.routes
