"""A collection of the workspace (its batches, its jobs) as requests: list its pages, get one item."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from include.roboflow_batch.api.request_spec import (
    PageModel,
    PageSpec,
    RequestSpec,
    get_request,
    list_request,
    path_segment,
)

ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class Collection(Generic[ItemT]):
    """Requests for the items of ``base_path(workspace)/plural``; ``unwrap`` reads one item's envelope.

    ``codes`` are the list and get endpoints' numbers in docs/roboflow-api.md, shown in operation names.
    """

    noun: str
    plural: str
    codes: tuple[str, str]
    base_path: Callable[[str], str]
    page: Callable[[Any], PageModel[ItemT]]
    unwrap: Callable[[Any], ItemT]

    def path(self, workspace: str) -> str:
        return f"{self.base_path(workspace)}/{self.plural}"

    def item_path(self, workspace: str, item_id: str) -> str:
        return f"{self.path(workspace)}/{path_segment(f'{self.noun}_id', item_id)}"

    def list(self, workspace: str, page_size: int | None = None) -> PageSpec[ItemT]:
        operation = f"list {self.plural} ({self.codes[0]})"
        return list_request(operation, self.path(workspace), self.page, page_size=page_size)

    def get(self, workspace: str, item_id: str) -> RequestSpec[ItemT]:
        operation = f"get {self.noun} {item_id!r} ({self.codes[1]})"
        return get_request(operation, self.item_path(workspace, item_id), self.unwrap)
