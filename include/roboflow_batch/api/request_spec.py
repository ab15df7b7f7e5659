"""A request as data: what to send, how to read the answer, whether a repeat is safe (see ``endpoints``)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import quote

T = TypeVar("T")
ItemT = TypeVar("ItemT")


class _PageModel(Protocol):
    @property
    def next_page_token(self) -> str | None: ...


PageModelT = TypeVar("PageModelT", bound=_PageModel)


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


def page_decoder(
    validate: Callable[[Any], PageModelT], items: Callable[[PageModelT], list[ItemT]]
) -> Callable[[Any], Page[ItemT]]:
    """Decode one page of a list endpoint: its items and the token of the next page."""

    def decode(payload: Any) -> Page[ItemT]:
        page = validate(payload)
        return Page(items(page), page.next_page_token)

    return decode


def list_request(
    operation: str,
    path: str,
    validate: Callable[[Any], PageModelT],
    items: Callable[[PageModelT], list[ItemT]],
    *,
    page_token: str | None,
    page_size: int | None = None,
    **query: str | None,
) -> RequestSpec[Page[ItemT]]:
    """One page of a list endpoint: ``pageSize`` (checked), ``nextPageToken`` and any filters."""
    params = query_params(pageSize=checked_page_size(page_size), nextPageToken=page_token, **query)
    return get_request(operation, path, page_decoder(validate, items), params)
