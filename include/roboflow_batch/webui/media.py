"""A run's images, read server-side through the pipeline's own connection and streamed by the view.

The gallery never hands the browser a signed URL or a key to the store: the view reads the object
and sends its bytes. Before a single byte is read, in this order:

1. the user may read the DAG, and the run exists (the view's own checks, in ``app``);
2. the key is an object that run's manifest lists, processed or failed (the manifest's URI comes
   from the run's own return values, never from the request);
3. the key is a plain relative name (no ``..``, empty or absolute segment, control character or
   backslash) under the pipeline's source: its bucket and prefix, or directly in its local
   directory, links resolved and required to stay there;
4. its extension is an image type a browser shows (``MEDIA_TYPES``);
5. its size, from a stat (a HEAD on an object store), is at most ``max_media_bytes()``.

The first block read must then start like an image of that type. The response carries that fixed
content type, ``nosniff`` and a sandboxing CSP, and never more bytes than the stat announced.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from include.roboflow_batch.export.names import UnsafeNameError, check_relative_name
from include.roboflow_batch.media import MAX_IMAGE_BYTES

MEDIA_TYPES = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "jpe": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "dib": "image/bmp",
}
# How each type's bytes start; an object that does not is not sent.
_SIGNATURES: dict[str, Callable[[bytes], bool]] = {
    "image/jpeg": lambda head: head.startswith(b"\xff\xd8\xff"),
    "image/png": lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/webp": lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP",
    "image/bmp": lambda head: head.startswith(b"BM"),
}
MAX_MEDIA_BYTES_ENV = "ROBOFLOW_VIEW_MAX_IMAGE_BYTES"
CHUNK_BYTES = 256 * 1024
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, max-age=300",
    "Content-Disposition": "inline",
}


class MediaRefused(Exception):
    """The object may not be shown; ``status`` is the HTTP status to answer, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def max_media_bytes() -> int:
    """The largest image the view sends (default: Roboflow's own image limit, 20 MiB)."""
    configured = os.environ.get(MAX_MEDIA_BYTES_ENV, "")
    return int(configured) if configured.isdigit() and int(configured) > 0 else MAX_IMAGE_BYTES


# -- which objects a run may show ------------------------------------------------------------------


def _chunk_manifest_uris(manifest: Mapping[str, Any], manifest_uri: str) -> list[str]:
    chunks = manifest.get("chunks")
    if manifest.get("kind") == "combined" and isinstance(chunks, list):
        return [
            c["manifest"] for c in chunks if isinstance(c, Mapping) and isinstance(c.get("manifest"), str)
        ]
    return [manifest_uri]


def manifest_keys(
    manifest_uri: str, read_json: Callable[[str], Mapping[str, Any]], names_are_keys: bool
) -> frozenset[str]:
    """Every object the run's manifest(s) list as processed or failed, by its key in the source."""
    window = read_json(manifest_uri)
    keys: set[str] = set()
    for uri in _chunk_manifest_uris(window, manifest_uri):
        manifest = window if uri == manifest_uri else read_json(uri)
        entries = [*(manifest.get("sources") or [])]
        for section in ("failed", "processing_failed"):
            entries += (manifest.get(section) or {}).get("files") or []
        for entry in entries:
            if not isinstance(entry, Mapping):
                continue
            name = entry.get("name") or entry.get("file_name")
            key = name if names_are_keys else entry.get("source_key")
            if isinstance(key, str) and key:
                keys.add(key)
    return frozenset(keys)


class ManifestKeys:
    """``manifest_keys`` of recent runs, kept while the run's manifest is unchanged (its stat)."""

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self._entries: dict[str, tuple[Any, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def get(
        self,
        manifest_uri: str,
        signature: Any,
        load: Callable[[], frozenset[str]],
    ) -> frozenset[str]:
        with self._lock:
            cached = self._entries.get(manifest_uri)
        if cached is not None and cached[0] == signature:
            return cached[1]
        keys = load()
        with self._lock:
            if len(self._entries) >= self.capacity:
                self._entries.pop(next(iter(self._entries)))
            self._entries[manifest_uri] = (signature, keys)
        return keys


# -- reading one object ------------------------------------------------------------------------------


class Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...

    def close(self) -> None: ...


@dataclass
class MediaObject:
    """An object the view may send: its content type, size and an open handle positioned at 0."""

    content_type: str
    size: int
    handle: Readable

    def chunks(self) -> Iterator[bytes]:
        """The bytes, at most ``size`` of them, whatever the object holds by now; closes the handle."""
        left = self.size
        try:
            while left > 0:
                block = self.handle.read(min(CHUNK_BYTES, left))
                if not block:
                    return
                left -= len(block)
                yield block
        finally:
            self.handle.close()


def media_type_of(key: str) -> str:
    suffix = PurePosixPath(key).suffix.lower().lstrip(".")
    if suffix not in MEDIA_TYPES:
        raise MediaRefused(415, f"{key!r} is not an image type the view shows")
    return MEDIA_TYPES[suffix]


def _checked_key(key: str) -> str:
    try:
        return check_relative_name(key, "object key")
    except UnsafeNameError:
        raise MediaRefused(400, "not a plain object key") from None


def _local_file(directory: str, key: str) -> Path:
    if "/" in key:
        raise MediaRefused(404, "a local source holds top-level files only")
    root = Path(directory).resolve()
    path = (root / key).resolve()
    if path.parent != root or not path.is_file():
        raise MediaRefused(404, "no such file in the source directory")
    return path


def _open_local(directory: str, key: str) -> tuple[int, Readable]:
    path = _local_file(directory, key)
    return path.stat().st_size, path.open("rb")


def _open_object(source: Mapping[str, Any], key: str, limit: int) -> tuple[int, Readable]:
    from airflow.sdk import ObjectStoragePath

    prefix = str(source.get("prefix") or "")
    if not key.startswith(prefix):
        raise MediaRefused(404, "the key is outside the pipeline's source prefix")
    scheme = "s3" if source.get("kind") == "s3" else "gs"
    path = ObjectStoragePath(f"{scheme}://{source['bucket']}/{key}", conn_id=source.get("conn_id"))
    try:
        size = int(path.stat().st_size)
    except FileNotFoundError:
        raise MediaRefused(404, "no such object in the source bucket") from None
    if size > limit:
        raise MediaRefused(413, f"the image holds {size:,} bytes, more than the view sends ({limit:,})")
    return size, path.open("rb")


def open_media(source: Mapping[str, Any], key: str, allowed: frozenset[str], limit: int) -> MediaObject:
    """The object ``key`` of the run whose manifest lists ``allowed``, opened; ``MediaRefused`` otherwise."""
    if key not in allowed:
        raise MediaRefused(404, "this run's manifest does not list that object")
    _checked_key(key)
    content_type = media_type_of(key)
    if source.get("kind") == "local":
        size, handle = _open_local(str(source["directory"]), key)
        if size > limit:
            handle.close()
            raise MediaRefused(413, f"the image holds {size:,} bytes, more than the view sends ({limit:,})")
    elif source.get("kind") in ("s3", "gcs") and source.get("bucket"):
        size, handle = _open_object(source, key, limit)
    else:
        raise MediaRefused(404, "this run does not say where its objects are")
    head = handle.read(min(size, 16))
    if not _SIGNATURES[content_type](head):
        handle.close()
        raise MediaRefused(415, f"{key!r} does not hold the image its name says")
    return MediaObject(content_type, size, _Prefixed(head, handle))


class _Prefixed:
    """A handle whose first bytes were read already (to check them) and are given back first."""

    def __init__(self, head: bytes, handle: Readable) -> None:
        self._head = head
        self._handle = handle

    def read(self, size: int) -> bytes:
        if self._head:
            block, self._head = self._head[:size], self._head[size:]
            return block
        return self._handle.read(size)

    def close(self) -> None:
        self._handle.close()
