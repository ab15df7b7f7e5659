"""Writing export files to ``file://``, ``s3://`` or ``gs://`` so that nothing half-written looks complete.

Local files are written under a temporary name beside the target and renamed into place (atomic on
one filesystem). Object stores only show an object once its upload completed; the bytes are spooled
(in memory for small files) while they stream in and uploaded under the final key once complete, so a
failed transfer leaves nothing behind. Completed sources are recorded in ``_progress/`` (see
:mod:`include.roboflow_batch.export.progress`), so a re-run can skip what is already complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from airflow.sdk import ObjectStoragePath

from include.roboflow_batch.export.local_folder import LocalFolder, LocalStagedFile
from include.roboflow_batch.export.streams import CHUNK_SIZE

MANIFEST_FILE = "manifest.json"
_LOCAL_PROTOCOLS = ("file", "local")
# Objects up to this size are spooled in memory before their upload; larger ones in a temporary file.
# Small, because an archive's members all wait in spools until the whole archive has been checked.
_SPOOL_IN_MEMORY = 256 * 1024


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
        self._local_root = self.root.path if self.is_local else ""
        self.local_folder = LocalFolder(self._local_root) if self.is_local else None

    def uri_of(self, relpath: str) -> str:
        return f"{self.uri}/{relpath}"

    def _local(self, relpath: str) -> Path:
        return Path(self._local_root, relpath)

    def _object(self, relpath: str) -> ObjectStoragePath:
        return self.root / relpath

    # -- files --------------------------------------------------------------------------------------

    def existing_sizes(self) -> dict[str, int]:
        """Every file under the destination and its size, from one listing (not one call per file)."""
        if self.is_local:
            root = Path(self.root.path)
            sizes: dict[str, int] = {}
            for folder, _dirs, names in os.walk(root):
                for name in names:
                    path = Path(folder) / name
                    sizes[path.relative_to(root).as_posix()] = path.stat().st_size
            return sizes
        prefix = self.root.path.rstrip("/") + "/"
        try:
            listing = self.root.fs.find(prefix, detail=True)
        except FileNotFoundError:
            return {}
        return {
            path[len(prefix) :]: int(info.get("size") or 0)
            for path, info in listing.items()
            if path.startswith(prefix) and info.get("type", "file") == "file"
        }

    def stage(self, relpath: str) -> StagedFile | LocalStagedFile:
        """A file being written for ``relpath``; it appears there only when committed."""
        if self.local_folder is not None:
            return self.local_folder.stage(relpath)
        return StagedFile(self, relpath)

    def write_folder(self, folder: str, files: Sequence[tuple[str, memoryview]]) -> None:
        """Write each ``(relpath, bytes)`` (all inside ``folder``); each file appears complete or not at all,
        and on a local folder none appears before all of them were written."""
        if self.local_folder is not None:
            self.local_folder.write_folder(folder, files)
            return
        for relpath, body in files:
            # An object appears only once its upload completed: the bytes in hand need no spool.
            with self._object(relpath).open("wb") as sink:
                sink.write(body)

    @contextmanager
    def open_atomic(self, relpath: str) -> Iterator[BinaryIO]:
        """A handle whose bytes appear at ``relpath`` only when the block ends without an error."""
        staged = self.stage(relpath)
        try:
            yield staged.handle
        except BaseException:
            staged.discard()
            raise
        staged.commit()

    def copy_within(self, source: str, target: str) -> None:
        """Copy one destination file to another path of the destination (atomically)."""
        if self.local_folder is not None:
            self.local_folder.copy_within(source, target)
            return
        with self._object(source).open("rb") as reader, self.open_atomic(target) as writer:
            shutil.copyfileobj(reader, writer, CHUNK_SIZE)

    # -- rearranging (one answer per destination: ``export.replacement``) ---------------------------

    def files_under(self, folder: str = "") -> list[str]:
        """Every file below ``folder`` (the whole destination by default), as destination paths."""
        prefix = f"{folder.rstrip('/')}/" if folder else ""
        return sorted(path for path in self.existing_sizes() if path.startswith(prefix))

    def place_copy(self, source: str, target: str) -> None:
        """Make ``target`` hold the bytes of ``source`` (both destination paths), ``source`` kept.

        Locally a hard link renamed into place (no bytes copied, atomic); on object stores the
        store's own server-side copy, which makes the target appear complete or not at all.
        """
        if self.local_folder is not None:
            self.local_folder.link_within(source, target)
            return
        self.root.fs.copy(self._object(source).path, self._object(target).path)

    def move(self, source: str, target: str) -> None:
        """Move one file of the destination to another of its paths (replacing what is there)."""
        if self.local_folder is not None:
            self.local_folder.move_within(source, target)
            return
        self.place_copy(source, target)
        self.remove(source)

    def remove(self, relpath: str) -> None:
        """Delete one file of the destination; a file already gone is fine."""
        try:
            if self.is_local:
                self._local(relpath).unlink()
            else:
                self.root.fs.rm_file(self._object(relpath).path)
        except FileNotFoundError:
            pass

    def remove_folder(self, folder: str) -> None:
        """Delete a folder of the destination with everything in it; an absent folder is fine."""
        if self.is_local:
            shutil.rmtree(self._local(folder), ignore_errors=True)
            return
        for relpath in self.files_under(folder):
            self.remove(relpath)

    def _write_with(self, relpath: str, write: Callable[[BinaryIO], object]) -> None:
        with self.open_atomic(relpath) as handle:
            write(handle)

    def put_text(self, relpath: str, text: str) -> None:
        self._write_with(relpath, lambda handle: handle.write(text.encode("utf-8")))

    def read_text(self, relpath: str) -> str | None:
        try:
            if self.is_local:
                return self._local(relpath).read_text(encoding="utf-8")
            return self._object(relpath).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def list_folder(self, relpath: str) -> list[str]:
        """Names of the files directly in a folder of the destination (empty when it is absent)."""
        if self.is_local:
            folder = self._local(relpath)
            return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        try:
            return sorted(p.name for p in self._object(relpath).iterdir() if p.is_file())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def iter_lines(self, relpath: str) -> Iterator[str]:
        if self.local_folder is not None:
            yield from self.local_folder.iter_lines(relpath)
            return
        with self._object(relpath).open("r", encoding="utf-8", newline="") as handle:
            yield from handle

    @staticmethod
    def is_complete(record: dict[str, Any], sizes: dict[str, int]) -> bool:
        """All files of a recorded source are present at their size (``sizes``: :meth:`existing_sizes`)."""
        return all(sizes.get(f["path"]) == f["size"] for f in record.get("files", []))


class StagedFile:
    """Bytes on their way to one object: spooled until :meth:`commit` uploads them under the final key."""

    def __init__(self, dest: Destination, relpath: str) -> None:
        self._dest = dest
        self.relpath = relpath
        # Closed by commit() or discard(), which every caller reaches in a finally block.
        self.handle: BinaryIO = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # type: ignore[assignment]  # noqa: SIM115

    def done_writing(self) -> None:
        """Nothing to release: the spool is read again on commit."""

    def commit(self) -> None:
        try:
            self.handle.seek(0)
            with self._dest._object(self.relpath).open("wb") as sink:
                shutil.copyfileobj(self.handle, sink, CHUNK_SIZE)
        finally:
            self.discard()

    def discard(self) -> None:
        """Drop whatever was not committed; safe to call again after :meth:`commit`."""
        self.handle.close()
