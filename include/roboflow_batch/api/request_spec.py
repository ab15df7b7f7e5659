"""A request as data: what to send, how to read the answer, whether a repeat is safe (see ``endpoints``)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import quote

T = TypeVar("T")
ItemT = TypeVar("ItemT")
ItemT_co = TypeVar("ItemT_co", covariant=True)


class PageModel(Protocol[ItemT_co]):
    """A decoded page of a list endpoint: its items and the token of the next page."""

    @property
    def items(self) -> Sequence[ItemT_co]: ...

    @property
    def next_page_token(self) -> str | None: ...


class Retry(enum.Enum):
    SAFE = "safe"
    UNAMBIGUOUS = "unambiguous"


@dataclass(frozen=True)
class Page(Generic[ItemT]):
    items: list[ItemT]
    next_page_token: str | None


@dataclass(frozen=True)
class RequestSpec(Generic[T]):
    """What to send and how to read the answer. ``path`` is relative to the API base URL."""

    operation: str
    method: str
    path: str
    decode: Callable[[Any], T]
    params: Mapping[str, str | int | float] = field(default_factory=dict)
    json: Any = None
    files: Mapping[str, tuple[str, bytes]] | None = None
    retry: Retry = Retry.SAFE
    timeout_factor: float = 1.0
    expects_json: bool = True


# A list endpoint: the request for the page that a ``nextPageToken`` (None: the first page) names.
PageSpec = Callable[[str | None], RequestSpec[Page[ItemT]]]


def query_params(**values: str | int | float | None) -> dict[str, str | int | float]:
    return {key: value for key, value in values.items() if value is not None}


def path_segment(kind: str, value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{kind} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def checked_page_size(page_size: int | None) -> int | None:
    if page_size is not None and (not isinstance(page_size, int) or page_size < 1):
        raise ValueError(f"page_size must be a positive integer, got {page_size!r}")
    return page_size


def staging_path(workspace: str) -> str:
    return f"/data-staging/v1/external/{path_segment('workspace', workspace)}"


def processing_path(workspace: str) -> str:
    return f"/batch-processing/v1/external/{path_segment('workspace', workspace)}"


def ignore_body(_: Any) -> None:
    return None


def json_object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValueError(f"expected a JSON object, got {type(payload).__name__}")
    return payload


def get_request(
    operation: str,
    path: str,
    decode: Callable[[Any], T],
    params: Mapping[str, str | int | float] | None = None,
) -> RequestSpec[T]:
    """A read: ``GET``, safe to repeat."""
    return RequestSpec(operation=operation, method="GET", path=path, params=params or {}, decode=decode)


def list_request(
    operation: str,
    path: str,
    validate: Callable[[Any], PageModel[ItemT]],
    page_size: int | None = None,
    **query: str | None,
) -> PageSpec[ItemT]:
    """The pages of a list endpoint, one request per ``nextPageToken``: ``pageSize`` (checked) and filters."""

    def decode(payload: Any) -> Page[ItemT]:
        page = validate(payload)
        return Page(list(page.items), page.next_page_token)

    def page_request(page_token: str | None) -> RequestSpec[Page[ItemT]]:
        params = query_params(pageSize=checked_page_size(page_size), nextPageToken=page_token, **query)
        return get_request(operation, path, decode, params)

    return page_request
