"""A window's content against the record: what is left out as already processed, and what is sent.

While a window is listed, each selected object's content digest is looked up in the record (a block
of objects at a time, so the lookups are vectorised). An object another window processed is skipped
with reason ``already-processed`` and that window; every other object goes on, and its name and
digest are noted in the window's content list (``<references>.content.jsonl``, beside the skipped
list). Once the window's results reconcile, the content list minus the objects that failed at
ingest or in the workflow becomes the window's segment of the record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

import numpy as np
from airflow.sdk import ObjectStoragePath

from include.roboflow_batch.content.identity import DIGEST_BYTES, DIGEST_DTYPE, Digests, as_digests
from include.roboflow_batch.content.record import RecordIndex, WindowRef

ALREADY_PROCESSED = "already-processed"
CONTENT_LIST_SUFFIX = ".content.jsonl"
LOOKUP_BLOCK = 1024

#: ``(key, name, size, digest or None)`` of one selected object, in listing order.
Selected = tuple[str, str, int, bytes | None]


class ContentListError(ValueError):
    """A window's content list cannot be read; the message names it and the line."""


class ContentFilter:
    """Leaves out of a listing the objects whose content another window processed.

    ``on_processed(key, size, window)`` is told of each object left out, ``on_sent(name, digest)``
    of each object with a digest that goes on (objects without one always go on, unnoted).
    """

    def __init__(
        self,
        index: RecordIndex,
        on_processed: Callable[[str, int, WindowRef], None],
        on_sent: Callable[[str, bytes], None],
    ) -> None:
        self.index = index
        self.on_processed = on_processed
        self.on_sent = on_sent
        self.processed = 0

    def unprocessed(self, selected: Iterable[Selected]) -> Iterator[tuple[str, str]]:
        """``(key, name)`` of the selected objects to send, in their order."""
        items = iter(selected)
        while block := list(islice(items, LOOKUP_BLOCK)):
            known = [digest for *_, digest in block if digest is not None]
            windows = iter(self.index.lookup(as_digests(known)))
            for key, name, size, digest in block:
                window = next(windows) if digest is not None else None
                if window is not None:
                    self.processed += 1
                    self.on_processed(key, size, window)
                    continue
                if digest is not None:
                    self.on_sent(name, digest)
                yield key, name


def content_line(name: str, digest: bytes) -> dict[str, str]:
    """One line of a window's content list."""
    return {"name": name, "content": digest.hex()}


def read_sent_content(uri: str, conn_id: str | None, leave_out: set[str]) -> Digests:
    """The digests of a window's content list, but for the names in ``leave_out`` (failed objects)."""
    # 16 bytes a digest in one buffer: a Python bytes object per digest would take four times more.
    digests = bytearray()
    path = ObjectStoragePath(uri, conn_id=conn_id)
    try:
        with path.open("r", encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                name, digest = _parse_line(line, uri, number)
                if name not in leave_out:
                    digests += digest
    except FileNotFoundError:
        raise ContentListError(f"content list {uri} does not exist") from None
    return np.frombuffer(bytes(digests), dtype=DIGEST_DTYPE)


def _parse_line(line: str, uri: str, number: int) -> tuple[str, bytes]:
    try:
        item: Any = json.loads(line)
        name, digest = item["name"], bytes.fromhex(item["content"])
    except (ValueError, KeyError, TypeError):
        raise ContentListError(f"content list {uri} line {number}: not a {{name, content}} line") from None
    if not isinstance(name, str) or len(digest) != DIGEST_BYTES:
        raise ContentListError(f"content list {uri} line {number}: not a {{name, content}} line")
    return name, digest
