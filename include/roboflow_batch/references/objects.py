"""What a storage listing yields, whatever the store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple


class StoredObject(NamedTuple):
    """One object of a listing: its key, size in bytes and last-modified time (time-zone aware)."""

    key: str
    size: int
    last_modified: datetime


# Makes the signed GET URL of a key. Signed URLs are bearer secrets: they go to the references
# file only, never to logs, exceptions or XCom.
Signer = Callable[[str], str]
