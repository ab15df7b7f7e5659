"""Writing export files to ``file://``, ``s3://`` or ``gs://`` so that nothing half-written looks complete.

Local files are written under a temporary name and renamed into place (atomic on one filesystem).
Object stores only show an object once its upload completed, so objects are uploaded directly under
their final key. ``_progress.jsonl`` records each completed source file (paths, sizes, sha256) and is
rewritten whole after each one, so a re-run can skip what is already complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from airflow.sdk import ObjectStoragePath

PROGRESS_FILE = "_progress.jsonl"
MANIFEST_FILE = "manifest.json"
_CHUNK = 1024 * 1024
_LOCAL_PROTOCOLS = ("file", "local")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Destination:
    """The export target folder, addressed by paths relative to it (always with ``/``)."""

    def __init__(self, uri: str, conn_id: str | None = None) -> None:
        if "://" not in uri:
            raise ValueError(
                f"destination must be a URI such as file:///data/out, s3://bucket/prefix: {uri!r}"
            )
        self.uri = uri.rstrip("/")
        self.root = ObjectStoragePath(self.uri, conn_id=conn_id)
        self.is_local = self.root.protocol in _LOCAL_PROTOCOLS
        self._progress_lock = threading.Lock()
        self._progress: dict[str, dict[str, Any]] = {}

    def uri_of(self, relpath: str) -> str:
        return f"{self.uri}/{relpath}"

    def _local(self, relpath: str) -> Path:
        return Path(self.root.path) / relpath

    def _object(self, relpath: str) -> ObjectStoragePath:
        return self.root / relpath

    # -- files --------------------------------------------------------------------------------------

    def size_of(self, relpath: str) -> int | None:
        """Size of an existing file, None when it is absent."""
        if self.is_local:
            path = self._local(relpath)
            return path.stat().st_size if path.is_file() else None
        target = self._object(relpath)
        try:
            return int(target.stat().st_size) if target.is_file() else None
        except FileNotFoundError:
            return None

    def _write_local(self, relpath: str, write: Callable[[Path], object]) -> None:
        """Let ``write`` fill a temporary file beside the target, then rename it into place."""
        target = self._local(relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        try:
            write(temporary)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)

    def put_file(self, local: Path, relpath: str) -> None:
        if self.is_local:
            self._write_local(relpath, lambda temporary: shutil.copyfile(local, temporary))
            return
        with local.open("rb") as source, self._object(relpath).open("wb") as sink:
            shutil.copyfileobj(source, sink, _CHUNK)

    def put_text(self, relpath: str, text: str) -> None:
        if self.is_local:
            self._write_local(relpath, lambda temporary: temporary.write_text(text, encoding="utf-8"))
            return
        self._object(relpath).write_text(text, encoding="utf-8")

    def read_text(self, relpath: str) -> str | None:
        try:
            if self.is_local:
                return self._local(relpath).read_text(encoding="utf-8")
            return self._object(relpath).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def iter_lines(self, relpath: str) -> Iterator[str]:
        opener = self._local(relpath).open if self.is_local else self._object(relpath).open
        with opener("r", encoding="utf-8", newline="") as handle:
            yield from handle

    # -- progress record ----------------------------------------------------------------------------

    def load_progress(self) -> dict[str, dict[str, Any]]:
        """Completed sources from an earlier run: ``{source key: {"source", "files": [...]}}``."""
        text = self.read_text(PROGRESS_FILE)
        records: dict[str, dict[str, Any]] = {}
        for number, line in enumerate((text or "").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                records[record["source"]] = record
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(
                    f"{self.uri_of(PROGRESS_FILE)}, line {number}: unreadable record ({exc})"
                ) from exc
        with self._progress_lock:
            self._progress = dict(records)
        return records

    def record_complete(self, source: str, files: list[dict[str, Any]]) -> None:
        with self._progress_lock:
            self._progress[source] = {"source": source, "files": files}
            text = "".join(json.dumps(rec, sort_keys=True) + "\n" for rec in self._progress.values())
            self.put_text(PROGRESS_FILE, text)

    def is_complete(self, record: dict[str, Any]) -> bool:
        """All files of a recorded source are present with their recorded sizes."""
        return all(self.size_of(f["path"]) == f["size"] for f in record.get("files", []))
