"""Safe extraction of the result archives (``.tar``, ``.tar.gz``, ``.tgz``) an export stage produces.

Every member is checked before anything is written: absolute names, ``..`` components, links that
point outside the target, devices and FIFOs are refused with an error naming the archive and member.
Python's ``tarfile`` data filter then enforces the same rules a second time during extraction.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from pathlib import Path, PurePosixPath

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


class UnsafeArchiveError(ValueError):
    """An archive member would escape the extraction directory or is not a plain file or folder."""


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
    if (
        not name
        or name.startswith("/")
        or PurePosixPath(name).is_absolute()
        or (len(name) > 1 and name[1] == ":")
    ):
        problem = "has an absolute path"
    elif ".." in PurePosixPath(name).parts:
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


def safe_extract(archive_path: Path, target_dir: Path, archive_name: str | None = None) -> list[Path]:
    """Extract ``archive_path`` into ``target_dir``; return the regular files written (sorted)."""
    label = archive_name or archive_path.name
    target_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive_path, mode="r:*") as archive:
            members = archive.getmembers()
            for member in members:
                check_member(label, member)
            archive.extractall(target_dir, members=members, filter="data")
    except tarfile.FilterError as exc:
        raise UnsafeArchiveError(f"Refusing to extract {label}: {exc}") from exc
    except tarfile.TarError as exc:
        raise ValueError(f"{label} is not a readable tar archive: {exc}") from exc
    root = target_dir.resolve()
    files = []
    for dirpath, _dirs, names in os.walk(target_dir):
        for name in names:
            path = Path(dirpath) / name
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                raise UnsafeArchiveError(f"Refusing to export {label}: {name!r} links outside the archive.")
            if path.is_file():
                files.append(path)
    return sorted(files)
