"""GCS object listings answered inside the storage client: no server, real parsing.

``GCSListingStub`` is a ``requests`` transport adapter mounted on the client's HTTP session. It
answers the JSON API's objects.list with pages shaped like GCS's own (every field of an object
resource, ``nextPageToken``), so the storage library and the code under test do all of their usual
work; only the socket is missing. Each object's JSON is made once, up front; a page is a join.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from requests.adapters import BaseAdapter

UPDATED = "2026-03-01T04:00:00.123Z"


def object_resource(bucket: str, name: str, size: int, updated: str = UPDATED) -> dict[str, Any]:
    """An object as objects.list returns it (all fields, as when no ``fields`` filter applies)."""
    return {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/1772337600123456",
        "selfLink": f"https://storage.example/storage/v1/b/{bucket}/o/{name}",
        "mediaLink": f"https://storage.example/download/storage/v1/b/{bucket}/o/{name}?alt=media",
        "name": name,
        "bucket": bucket,
        "generation": "1772337600123456",
        "metageneration": "1",
        "contentType": "image/jpeg",
        "storageClass": "STANDARD",
        "size": str(size),
        "md5Hash": "1B2M2Y8AsgTpgAmY7PhCfg==",
        "crc32c": "AAAAAA==",
        "etag": "CMDe7o+Xz4oDEAE=",
        "timeCreated": updated,
        "updated": updated,
        "timeStorageClassUpdated": updated,
    }


class GCSListingStub(BaseAdapter):
    """Answers objects.list of ``bucket`` from ``objects`` (name, size); counts the calls."""

    def __init__(self, bucket: str, objects: Sequence[tuple[str, int]], updated: str = UPDATED) -> None:
        super().__init__()
        self.bucket = bucket
        self.names = [name for name, _ in objects]
        self.items = [json.dumps(object_resource(bucket, name, size, updated)) for name, size in objects]
        self.calls = 0

    def send(  # type: ignore[override]  # the transport options do not apply to a stub
        self, request: requests.PreparedRequest, **_: Any
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        response = requests.Response()
        response.request = request
        response.url = request.url or ""
        response.headers["Content-Type"] = "application/json; charset=UTF-8"
        if request.method != "GET" or unquote(parts.path).rstrip("/") != f"/storage/v1/b/{self.bucket}/o":
            response.status_code = 404
            response._content = json.dumps({"error": {"code": 404, "message": "Not Found"}}).encode()
            return response
        self.calls += 1
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        prefix = query.get("prefix", "")
        start = int(query.get("pageToken", "0"))
        size = int(query.get("maxResults", "1000"))
        picked: list[str] = []
        position = start
        while position < len(self.names) and len(picked) < size:
            if self.names[position].startswith(prefix):
                picked.append(self.items[position])
            position += 1
        token = f',"nextPageToken":"{position}"' if position < len(self.names) else ""
        response.status_code = 200
        response._content = f'{{"kind":"storage#objects"{token},"items":[{",".join(picked)}]}}'.encode()
        return response

    def close(self) -> None:
        """Nothing to release."""


def stub_listing(client: Any, stub: GCSListingStub) -> None:
    """Route the storage client's requests to its endpoint through ``stub``."""
    client._http.mount(client.api_endpoint, stub)
