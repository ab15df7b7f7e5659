"""Finding the images or videos of a local directory to ingest.

Like the official client, only top-level files are taken, chosen by extension (any letter case).
Files are returned sorted by name so that every attempt groups them the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

__all__ = ["IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "LocalFile", "discover_files", "resolve_directory"]

IMAGE_EXTENSIONS = frozenset({"bmp", "dib", "jpeg", "jpg", "jpe", "jp2", "png", "webp"})
VIDEO_EXTENSIONS = frozenset(
    {
        "mp4",
        "m4a",
        "m4p",
        "m4b",
        "m4r",
        "m4v",
        "avi",
        "mov",
        "mkv",
        "flv",
        "wmv",
        "mpeg",
        "mpg",
        "3gp",
        "webm",
        "ogg",
    }
)
_REMOTE_PREFIXES = ("s3://", "gs://", "gcs://", "az://", "azure://", "http://", "https://")


@dataclass(frozen=True)
class LocalFile:
    path: Path
    size: int
    mtime: float

    @property
    def name(self) -> str:
        return self.path.name


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


def discover_files(
    directory: Path,
    media_type: str,
    interval: tuple[datetime, datetime] | None = None,
) -> list[LocalFile]:
    """Top-level files of ``directory`` with an extension of ``media_type``, sorted by name.

    With ``interval=(start, end)`` only files whose modification time is in ``[start, end)`` are kept.
    """
    extensions = IMAGE_EXTENSIONS if media_type == "images" else VIDEO_EXTENSIONS
    start_ts = interval[0].timestamp() if interval else None
    end_ts = interval[1].timestamp() if interval else None
    found: list[LocalFile] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if not entry.is_file():
                continue
            suffix = entry.name.rsplit(".", 1)[-1].lower() if "." in entry.name else ""
            if suffix not in extensions:
                continue
            stat = entry.stat()
            if start_ts is not None and end_ts is not None and not start_ts <= stat.st_mtime < end_ts:
                continue
            found.append(LocalFile(path=Path(entry.path), size=stat.st_size, mtime=stat.st_mtime))
    found.sort(key=lambda item: item.name)
    return found
