"""What a storage listing yields, whatever the store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

#: The most objects a listing page may hold (S3 and GCS both cap pages at 1000).
MAX_PAGE_SIZE = 1000


class StoredObject(NamedTuple):
    """One object of a listing: its key, size in bytes, last-modified time (time-zone aware) and the
    store's checksum of its bytes as the listing gives it (``content.identity``; None when absent)."""

    key: str
    size: int
    last_modified: datetime
    content: str | None = None


# Makes the signed GET URL of a key. Signed URLs are bearer secrets: they go to the references
# file only, never to logs, exceptions or XCom.
Signer = Callable[[str], str]


@dataclass(frozen=True)
class ListingLimits:
    """How a listing is paged and how many objects one references file may hold (None: no limit)."""

    page_size: int = MAX_PAGE_SIZE
    max_objects_per_file: int | None = None

    def check(self) -> None:
        """``ValueError`` naming the setting when one is out of range (they come from DAG code as given)."""
        page_size: object = self.page_size
        if not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}; got {page_size!r}")
        limit: object = self.max_objects_per_file
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise ValueError(f"max_objects_per_file must be an integer >= 1; got {limit!r}")
