"""Atomic writes under a local folder, free of Airflow so that extraction worker processes can use it.

A file is written under a hidden temporary name beside its target and renamed into place when
complete (atomic on one filesystem), so nothing half-written ever carries a final name.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from include.roboflow_batch.export.streams import CHUNK_SIZE

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


class LocalStagedFile:
    """Bytes on their way to one local path: a hidden file beside it until :meth:`commit`."""

    def __init__(self, relpath: str, temporary: str, target: str) -> None:
        self.relpath = relpath
        self._temporary: str | None = temporary
        self._target = target
        # Closed by commit() or discard(), which every caller reaches in a finally block.
        self.handle: BinaryIO = open(temporary, "wb")  # noqa: SIM115

    def done_writing(self) -> None:
        """Release the file handle early (an archive may stage many members before they commit)."""
        self.handle.close()

    def commit(self) -> None:
        self.handle.close()
        if self._temporary is not None:
            os.replace(self._temporary, self._target)
            self._temporary = None  # nothing left to clean up

    def discard(self) -> None:
        """Drop whatever was not committed; safe to call again after :meth:`commit`."""
        self.handle.close()
        if self._temporary is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._temporary)
            self._temporary = None


class LocalFolder:
    """A local export folder addressed by checked relative paths (always with ``/``)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._made_dirs: set[str] = set()
        # Unique temporary names without a random draw per file, distinct across processes and runs.
        self._run = f"{uuid.uuid4().hex[:8]}{os.getpid()}"
        self._serial = itertools.count()

    def path_of(self, relpath: str) -> str:
        return os.path.join(self.root, relpath)

    def _temporary_for(self, relpath: str) -> tuple[str, str]:
        # Plain string paths: this runs once per exported file.
        target = self.path_of(relpath)
        folder, name = os.path.split(target)
        if folder not in self._made_dirs:
            os.makedirs(folder, exist_ok=True)
            self._made_dirs.add(folder)
        return os.path.join(folder, f".{name}.{self._run}{next(self._serial)}.part"), target

    def stage(self, relpath: str) -> LocalStagedFile:
        temporary, target = self._temporary_for(relpath)
        return LocalStagedFile(relpath, temporary, target)

    def write_files(self, files: Sequence[tuple[str, memoryview]]) -> None:
        """Write each ``(relpath, bytes)`` under a hidden name, then rename all of them into place.

        None is visible before all were written; on a failure the hidden files are removed. One
        open/write/close per file, without buffered file objects: most exported files are tiny.
        """
        pending: list[tuple[str, str]] = []
        renamed = 0
        try:
            for relpath, body in files:
                temporary, target = self._temporary_for(relpath)
                fd = os.open(temporary, _NEW_FILE, 0o666)
                pending.append((temporary, target))
                try:
                    view = memoryview(body)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
            for done, (temporary, target) in enumerate(pending, start=1):
                os.replace(temporary, target)
                renamed = done
        finally:
            for temporary, _target in pending[renamed:]:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)

    def copy_within(self, source: str, target: str) -> None:
        """Copy one file of the folder to another path of it (atomically)."""
        staged = self.stage(target)
        try:
            with open(self.path_of(source), "rb") as reader:
                shutil.copyfileobj(reader, staged.handle, CHUNK_SIZE)
            staged.commit()
        finally:
            staged.discard()

    def iter_lines(self, relpath: str) -> Iterator[str]:
        with open(self.path_of(relpath), encoding="utf-8", newline="") as handle:
            yield from handle
