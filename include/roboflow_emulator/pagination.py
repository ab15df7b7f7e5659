"""Opaque page tokens over ordered lists (`pageSize` / `nextPageToken`)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from include.roboflow_emulator.errors import bad_request
from include.roboflow_emulator.http_types import Request, Response

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def parse_page_size(raw: str | None, default: int = DEFAULT_PAGE_SIZE) -> int:
    if raw is None or raw == "":
        return default
    try:
        size = int(raw)
    except ValueError as exc:
        raise bad_request(f"pageSize must be an integer, got {raw!r}.") from exc
    if size < 1:
        raise bad_request(f"pageSize must be at least 1, got {size}.")
    return min(size, MAX_PAGE_SIZE)


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _decode(token: str) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        kind, _, value = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        if kind != "offset":
            raise ValueError(kind)
        return int(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"nextPageToken {token!r} is not a token this service issued.") from exc


def paginate(items: Sequence[T], page_size: int, token: str | None) -> tuple[list[T], str | None]:
    """One page of `items` and the token of the next page (None on the last page)."""
    start = _decode(token) if token else 0
    page = list(items[start : start + page_size])
    end = start + len(page)
    return page, (_encode(end) if end < len(items) else None)


@dataclass(frozen=True)
class PageQuery:
    """A list request's `pageSize` and `nextPageToken`; the size is checked as soon as it is read."""

    size: int
    token: str | None

    @classmethod
    def of(cls, request: Request) -> PageQuery:
        return cls(parse_page_size(request.query.get("pageSize")), request.query.get("nextPageToken"))

    def response(self, key: str, items: Sequence[T], to_json: Callable[[T], Any]) -> Response:
        """The page as every list endpoint answers it: `{key: [...], "nextPageToken": ...}`."""
        page, token = paginate(items, self.size, self.token)
        return Response.json({key: [to_json(item) for item in page], "nextPageToken": token})
