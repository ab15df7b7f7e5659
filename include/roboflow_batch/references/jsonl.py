"""Stream reference lines to their destination atomically: a temporary sibling, then a move.

Readers of the destination see either the previous complete file or the new complete file,
never a half-written one: object stores commit an upload when it is closed, even after an
error, so the partial file must never be written under the final name.
"""

from __future__ import annotations

import json
import uuid
from types import TracebackType
from typing import Any

from airflow.sdk import ObjectStoragePath

# Lines are buffered and written in blocks: fewer calls into fsspec, memory still bounded.
_LINES_PER_WRITE = 2000
# One encoder for every line: json.dumps with options builds a new one per call, three times slower.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def references_file_path(uri: str, conn_id: str | None) -> ObjectStoragePath:
    """Where a references file is written: its URI (file://, s3://, gs:// or an absolute local path)
    as an ObjectStoragePath; the operator names the URI its ``destination``."""
    if isinstance(uri, str) and uri.startswith("/"):
        uri = f"file://{uri}"
    if not isinstance(uri, str) or "://" not in uri:
        raise ValueError(f"destination must be a URI such as s3://bucket/refs.jsonl; got {uri!r}")
    scheme = uri.split("://", 1)[0].lower()
    if scheme not in {"file", "s3", "gs", "gcs"}:
        raise ValueError(f"destination scheme must be file://, s3:// or gs://; got {uri!r}")
    if uri.endswith("/"):
        raise ValueError(f"destination must name a file, not a folder; got {uri!r}")
    return ObjectStoragePath(uri, conn_id=conn_id)


class AtomicJSONLWriter:
    """Write JSON lines to ``destination`` and publish them only on ``commit()``."""

    def __init__(self, destination: ObjectStoragePath) -> None:
        self.destination = destination
        self.temporary = destination.with_name(f".{destination.name}.{uuid.uuid4().hex}.partial")
        self._lines: list[str] = []
        self._handle: Any = None
        self._committed = False
        self.lines_written = 0

    def __enter__(self) -> AtomicJSONLWriter:
        if self.destination.protocol in ("file", "local", ""):
            self.destination.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.temporary.open("w", encoding="utf-8")
        return self

    def write(self, record: dict[str, str]) -> None:
        self._lines.append(_ENCODER.encode(record))
        if len(self._lines) >= _LINES_PER_WRITE:
            self._flush()

    def _flush(self) -> None:
        if self._lines:
            self._handle.write("\n".join(self._lines) + "\n")
            self.lines_written += len(self._lines)
            self._lines.clear()

    def commit(self) -> str:
        """Close the temporary file and move it over the destination; returns the destination URI."""
        self._flush()
        self._handle.close()
        self._handle = None
        self.temporary.rename(self.destination)
        self._committed = True
        # as_uri() leaves the connection id out, unlike str().
        return self.destination.as_uri()

    def abort(self) -> None:
        """Drop everything written so far; the destination is left as it was."""
        self._lines.clear()
        if self._handle is not None:
            try:
                self._handle.close()
            finally:
                self._handle = None
        if self.temporary.exists():
            self.temporary.unlink()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._handle is not None or (exc_type is not None and not self._committed):
            self.abort()
