"""The run's JSON documents (manifests), read for the view through the export's connection, size-capped."""

from __future__ import annotations

import json
from typing import Any

MAX_MANIFEST_BYTES = 32 * 1024 * 1024


class DocumentError(Exception):
    """The document cannot be shown; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def read_document(uri: str, conn_id: str | None = None) -> dict[str, Any]:
    """The JSON object at ``uri`` (a URI the run itself returned, never one from a request)."""
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath(uri, conn_id=conn_id)
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise DocumentError(413, "manifest too large to show")
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        raise DocumentError(404, "the manifest cannot be read") from None
    if not isinstance(document, dict):
        raise DocumentError(404, "the manifest is not a JSON object")
    return document


def document_signature(uri: str, conn_id: str | None = None) -> tuple[Any, ...]:
    """What changes when the document is rewritten: its size and modification time."""
    from airflow.sdk import ObjectStoragePath

    try:
        info = ObjectStoragePath(uri, conn_id=conn_id).stat()
    except OSError:
        return ()
    return (info.st_size, getattr(info, "st_mtime", None))
