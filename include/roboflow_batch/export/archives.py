"""Streamed, safe extraction of the result archives (``.tar``, ``.tar.gz``, ``.tgz``) of an export stage.

The archive is read once, as it downloads. Every member is checked before any of its bytes is
written: absolute names, ``..``/``.``/empty segments, backslashes, control characters, links that
point outside the archive, devices and FIFOs are refused with an error naming the archive and member.
Links that stay inside are handed back, to be written as copies of their target once it is written.
"""

from __future__ import annotations

import posixpath
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from include.roboflow_batch.export.names import UnsafeNameError, check_relative_name

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


class UnsafeArchiveError(UnsafeNameError):
    """An archive member would escape the extraction directory or is not a plain file or folder."""


@dataclass(frozen=True)
class ArchiveLink:
    """A link member: ``name`` is to hold the same bytes as ``target`` (both relative to the archive root)."""

    name: str
    target: str


def is_archive(file_name: str) -> bool:
    return file_name.lower().endswith(ARCHIVE_SUFFIXES)


def archive_stem(file_name: str) -> str:
    lowered = file_name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lowered.endswith(suffix):
            return file_name[: -len(suffix)]
    return file_name


def _escapes(path: str) -> bool:
    normalised = posixpath.normpath(path)
    return normalised == ".." or normalised.startswith("../") or posixpath.isabs(path)


def check_member(archive_name: str, member: tarfile.TarInfo) -> None:
    """Raise :class:`UnsafeArchiveError` if ``member`` must not be extracted."""
    name = member.name
    problem = None
    # String checks, not pathlib: this runs once per member of every archive.
    if not name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        problem = "has an absolute path"
    elif ".." in name.split("/"):
        problem = "contains a '..' component"
    elif member.issym() or member.islnk():
        target = member.linkname
        # Symlink targets are relative to the link's folder; hard-link targets to the archive root.
        resolved = posixpath.join(posixpath.dirname(name), target) if member.issym() else target
        if posixpath.isabs(target) or _escapes(resolved):
            problem = f"is a link pointing outside the target ({target!r})"
    elif member.ischr() or member.isblk() or member.isfifo() or member.isdev():
        problem = "is a device or FIFO"
    elif not (member.isfile() or member.isdir()):
        problem = "is not a regular file or folder"
    if problem:
        raise UnsafeArchiveError(f"Refusing to extract {archive_name}: member {name!r} {problem}.")


def member_path(archive_name: str, name: str) -> str:
    """The member's path relative to the archive root: a leading ``./`` dropped, then strictly checked."""
    while name.startswith("./"):
        name = name[2:]
    try:
        return check_relative_name(name.rstrip("/") if name.endswith("/") else name, "archive member")
    except UnsafeNameError as exc:
        raise UnsafeArchiveError(f"Refusing to extract {archive_name}: {exc}") from None


def link_target(archive_name: str, member: tarfile.TarInfo, path: str) -> str:
    target = member.linkname
    if member.issym():
        target = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    return member_path(archive_name, target)


def extract_stream(
    stream: IO[bytes], archive_name: str, write_member: Callable[[str, IO[bytes]], None]
) -> list[ArchiveLink]:
    """Read a tar stream once, calling ``write_member(path, reader)`` per regular file; return its links."""
    links: list[ArchiveLink] = []
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as archive:
            for member in archive:
                check_member(archive_name, member)
                if member.isdir() and not member.name.strip("./"):
                    continue  # the archive root itself
                path = member_path(archive_name, member.name)
                if member.isdir():
                    continue
                if member.issym() or member.islnk():
                    links.append(ArchiveLink(path, link_target(archive_name, member, path)))
                    continue
                reader = archive.extractfile(member)
                if reader is None:  # pragma: no cover - regular files always have a reader
                    raise UnsafeArchiveError(f"Refusing to extract {archive_name}: {path!r} is unreadable.")
                write_member(path, reader)
    except tarfile.TarError as exc:
        raise ValueError(f"{archive_name} is not a readable tar archive: {exc}") from exc
    return links
