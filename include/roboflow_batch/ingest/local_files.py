"""Finding the images or videos of a local directory to ingest, and accounting for the rest.

Like the official client, only top-level files are taken, chosen by extension (any letter case).
Files are returned sorted by name so that every attempt groups them the same way. Every other
entry of the window is reported with the reason it is not sent (``scan_directory``): a file of
another type, empty, over the size limit or unreadable, a subdirectory (not read), or something
that is not a regular file. Hidden entries (a name starting with ``.``) without a media extension
stay invisible: in-progress copies (``rsync`` temporaries), ``.DS_Store`` and the like.
"""

from __future__ import annotations

import os
import stat as stat_mode
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from include.roboflow_batch.media import (
    SKIP_NOT_FOUND,
    MediaType,
    has_media_extension,
    rejection_reason,
    validate_media_type,
)
from include.roboflow_batch.references.window import SelectionWindow

__all__ = [
    "DirectoryScan",
    "LocalFile",
    "SkippedEntry",
    "discover_files",
    "named_files",
    "resolve_directory",
    "scan_directory",
]

SKIP_UNREADABLE = "unreadable-file"
SKIP_SUBDIRECTORY = "subdirectory-not-read"
SKIP_NOT_A_FILE = "not-a-regular-file"

_REMOTE_PREFIXES = ("s3://", "gs://", "gcs://", "az://", "azure://", "http://", "https://")


@dataclass(frozen=True)
class LocalFile:
    path: Path
    size: int
    mtime: float

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class SkippedEntry:
    """An entry of the window that is not sent: its name (``name/`` for a folder), size and reason;
    for ``already-processed`` content, the window that processed it (``processed_in``)."""

    key: str
    reason: str
    size: int | None
    processed_in: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, object]:
        entry: dict[str, object] = {"key": self.key, "reason": self.reason, "size": self.size}
        if self.processed_in is not None:
            entry["processed_in"] = self.processed_in
        return entry


@dataclass
class DirectoryScan:
    """The window's files to send and the entries skipped, each sorted by name."""

    files: list[LocalFile] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)

    def skipped_summary(self) -> dict[str, Any]:
        """``{"skipped_count", "skipped": {reason: count}}``: small enough for XCom."""
        by_reason = Counter(entry.reason for entry in self.skipped)
        return {"skipped_count": len(self.skipped), "skipped": dict(sorted(by_reason.items()))}


def resolve_directory(local_directory: str | os.PathLike[str]) -> Path:
    """The directory to read, from a path or a ``file://`` URI; remote URIs are refused with a hint."""
    text = os.fspath(local_directory)
    if text.startswith("file://"):
        text = text[len("file://") :]
    elif text.lower().startswith(_REMOTE_PREFIXES):
        raise ValueError(
            f"local_directory {text!r} is not a local path; write a references file with "
            "S3ReferencesOperator/GCSReferencesOperator and pass it as references="
        )
    directory = Path(text).expanduser()
    if not directory.is_dir():
        raise ValueError(f"local_directory {text!r} does not exist or is not a directory")
    return directory


def arrival_time(stat: os.stat_result) -> float:
    """When a file arrived: the later of its modification and change time (epoch seconds)."""
    return max(stat.st_mtime, stat.st_ctime)


def _is_hidden_non_media(name: str, kind: MediaType) -> bool:
    return name.startswith(".") and not has_media_extension(name, kind)


def _entry_stat(entry: os.DirEntry[str]) -> os.stat_result | None:
    """The entry's own stat (the link's when it points nowhere), None when it vanished meanwhile."""
    try:
        return entry.stat()
    except OSError:
        try:
            return entry.stat(follow_symlinks=False)
        except OSError:
            return None


def _skip_reason(entry: os.DirEntry[str], info: os.stat_result, kind: MediaType) -> tuple[str, str | None]:
    """The key the entry is reported under and why it is not sent (None: it is sent)."""
    if stat_mode.S_ISDIR(info.st_mode):
        return f"{entry.name}/", SKIP_SUBDIRECTORY
    if not stat_mode.S_ISREG(info.st_mode):
        return entry.name, SKIP_NOT_A_FILE
    reason = rejection_reason(entry.name, info.st_size, kind)
    if reason is None and not os.access(entry.path, os.R_OK):
        reason = SKIP_UNREADABLE
    return entry.name, reason


def scan_directory(
    directory: Path,
    media_type: str,
    window: SelectionWindow | None = None,
    ignore: Collection[Path] = (),
) -> DirectoryScan:
    """The top-level files of ``directory`` to send, and every other entry with its reason.

    With a ``window`` only entries that arrived in its ``[start, end)`` are seen: arrival is the later
    of the modification and the change time, because a copy that keeps its timestamps (``cp -p``,
    ``rsync -t``) has an old modification time but a change time of when it was made. ``ignore``:
    folders of this project's own (a state directory placed inside the source).
    """
    kind = validate_media_type(media_type)
    ignored = {path.resolve() for path in ignore}
    scan = DirectoryScan()
    with os.scandir(directory) as entries:
        for entry in entries:
            if _is_hidden_non_media(entry.name, kind):
                continue
            info = _entry_stat(entry)
            if info is None:
                continue
            if window is not None and not window.contains(datetime.fromtimestamp(arrival_time(info), UTC)):
                continue
            key, reason = _skip_reason(entry, info, kind)
            if reason == SKIP_SUBDIRECTORY and Path(entry.path).resolve() in ignored:
                continue
            if reason is not None:
                size = info.st_size if stat_mode.S_ISREG(info.st_mode) else None
                scan.skipped.append(SkippedEntry(key=key, reason=reason, size=size))
            else:
                scan.files.append(LocalFile(path=Path(entry.path), size=info.st_size, mtime=info.st_mtime))
    scan.files.sort(key=lambda item: item.name)
    scan.skipped.sort(key=lambda item: item.key)
    return scan


def discover_files(
    directory: Path,
    media_type: str,
    window: SelectionWindow | None = None,
) -> list[LocalFile]:
    """The files of ``directory`` to send (see ``scan_directory``), sorted by name."""
    return scan_directory(directory, media_type, window).files


def named_files(directory: Path, names: Collection[str], media_type: str) -> DirectoryScan:
    """The top-level files of ``directory`` named ``names`` (a repair's), judged as a window's are;
    a name the directory does not hold as a top-level entry (gone, or not a plain name) is skipped
    as ``not-found``."""
    wanted = set(names)
    scan = scan_directory(directory, media_type)
    found = DirectoryScan(
        files=[item for item in scan.files if item.name in wanted],
        skipped=[entry for entry in scan.skipped if entry.key in wanted],
    )
    seen = {item.name for item in found.files} | {entry.key for entry in found.skipped}
    found.skipped += [
        SkippedEntry(key=name, reason=SKIP_NOT_FOUND, size=None) for name in sorted(wanted - seen)
    ]
    found.skipped.sort(key=lambda entry: entry.key)
    return found
