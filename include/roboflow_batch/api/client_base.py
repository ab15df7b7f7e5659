"""What the sync and the async Roboflow clients share: defaults, settings, error hints, paging."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NotRequired, TypedDict, TypeVar

from include.roboflow_batch.api.errors import ResponseDecodeError
from include.roboflow_batch.api.retries import RetryPolicy
from include.roboflow_batch.api.transport import AsyncTransport, SyncTransport

ItemT = TypeVar("ItemT")

DEFAULT_BASE_URL = "https://api.roboflow.com"
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_RETRIES = 5


class ReferenceIngest(TypedDict):
    """Options of a reference ingest (D10 image / D11 video references ingest): exactly one of ``references``
    and ``references_url``."""

    ingest_id: str
    references: NotRequired[Sequence[Mapping[str, str]] | None]
    references_url: NotRequired[str | None]
    display_name: NotRequired[str | None]
    notifications_url: NotRequired[str | None]
    notification_categories: NotRequired[Sequence[str] | None]


def _status_hints(key_source: str | None) -> dict[int, str]:
    if not key_source:
        return {}
    return {
        401: f"the API key from {key_source} was rejected",
        402: f"the workspace of the API key from {key_source} does not have this feature on its plan",
    }


def _transport_hint(base_url: str, key_source: str | None) -> str | None:
    return f"the API base URL {base_url} comes from {key_source}" if key_source else None


def next_page_token(operation: str, token: str | None, seen: set[str]) -> str | None:
    if not token:
        return None
    if token in seen:
        # A server bug would otherwise make the iterator loop forever.
        raise ResponseDecodeError(f"the server repeated page token {token!r}", operation=operation)
    seen.add(token)
    return token


def retry_policy_of(max_retries: int, retry_policy: RetryPolicy | None) -> RetryPolicy:
    return retry_policy if retry_policy is not None else RetryPolicy(max_retries=max_retries)


class ClientBase:
    """What both clients share: the transport's settings, error hints and the cached workspace."""

    _transport: SyncTransport | AsyncTransport

    def _attach(
        self, transport: SyncTransport | AsyncTransport, *, workspace: str | None, key_source: str | None
    ) -> None:
        transport.status_hints = _status_hints(key_source)
        transport.transport_hint = _transport_hint(transport.base_url, key_source)
        self._transport = transport
        self._workspace = workspace or None

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def timeout(self) -> float:
        return self._transport.timeout

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._transport.policy

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, workspace={self._workspace!r})"
