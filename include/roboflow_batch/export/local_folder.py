"""Atomic writes under a local folder, free of Airflow so that the export's worker processes can use it.

A file is written under a hidden temporary name beside its target and renamed into place when
complete (atomic on one filesystem), so nothing half-written ever carries a final name.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from include.roboflow_batch.export.streams import CHUNK_SIZE

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def _write_new(path: str, body: memoryview) -> None:
    """Create ``path`` (it must not exist) holding ``body``: one open, write and close, no file object."""
    fd = os.open(path, _NEW_FILE, 0o666)
    try:
        view = memoryview(body)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


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
                pending.append((temporary, target))
                _write_new(temporary, body)
            for done, (temporary, target) in enumerate(pending, start=1):
                os.replace(temporary, target)
                renamed = done
        finally:
            for temporary, _target in pending[renamed:]:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)

    def write_folder(self, folder: str, files: Sequence[tuple[str, memoryview]]) -> None:
        """Write ``files`` (all inside ``folder``) so that the folder appears complete, in one rename.

        The files are written into a hidden folder beside ``folder``, which is then renamed into
        place: one directory operation per file instead of two. When ``folder`` exists already (an
        earlier run, or another archive of the same name), its files are renamed into it one by one.
        """
        final = self.path_of(folder)
        prefix = f"{folder}/"
        if not folder or os.path.lexists(final) or not all(p.startswith(prefix) for p, _b in files):
            self.write_files(files)
            return
        parent, name = os.path.split(final)
        if parent not in self._made_dirs:
            os.makedirs(parent, exist_ok=True)
            self._made_dirs.add(parent)
        hidden = os.path.join(parent, f".{name}.{self._run}{next(self._serial)}.part")
        os.mkdir(hidden)
        inner = [(relpath[len(prefix) :], body) for relpath, body in files]
        try:
            made = {hidden}
            for path, body in inner:
                target = os.path.join(hidden, path)
                sub = os.path.dirname(target)
                if sub not in made:
                    os.makedirs(sub, exist_ok=True)
                    made.add(sub)
                _write_new(target, body)
            try:
                os.rename(hidden, final)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                self._move_into(hidden, [path for path, _body in inner], folder)
        finally:
            if os.path.lexists(hidden):
                shutil.rmtree(hidden, ignore_errors=True)

    def _move_into(self, hidden: str, paths: list[str], folder: str) -> None:
        """The folder appeared meanwhile (another archive of the same name): move the files in one by one."""
        for path in paths:
            target = self.path_of(f"{folder}/{path}")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.replace(os.path.join(hidden, path), target)

    def copy_within(self, source: str, target: str) -> None:
        """Copy one file of the folder to another path of it (atomically)."""
        staged = self.stage(target)
        try:
            with open(self.path_of(source), "rb") as reader:
                shutil.copyfileobj(reader, staged.handle, CHUNK_SIZE)
            staged.commit()
        finally:
            staged.discard()

    def link_within(self, source: str, target: str) -> None:
        """Give ``target`` the bytes of ``source`` without copying them: a hard link renamed into place."""
        temporary, final = self._temporary_for(target)
        try:
            os.link(self.path_of(source), temporary)
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            self.copy_within(source, target)  # a filesystem without hard links
            return
        os.replace(temporary, final)
        # Renaming a link onto another link of the same file does nothing (POSIX): the target was
        # already in place, the extra link goes.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)

    def move_within(self, source: str, target: str) -> None:
        """Rename one file of the folder to another of its paths (atomic, replacing the target)."""
        _temporary, final = self._temporary_for(target)
        os.replace(self.path_of(source), final)

    def iter_lines(self, relpath: str) -> Iterator[str]:
        with open(self.path_of(relpath), encoding="utf-8", newline="") as handle:
            yield from handle
