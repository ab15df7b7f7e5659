"""Finding the images or videos of a local directory to ingest.

Like the official client, only top-level files are taken, chosen by extension (any letter case).
Files are returned sorted by name so that every attempt groups them the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from include.roboflow_batch.media import has_media_extension, validate_media_type
from include.roboflow_batch.references.window import SelectionWindow

__all__ = ["LocalFile", "discover_files", "resolve_directory"]

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


def arrival_time(stat: os.stat_result) -> float:
    """When a file arrived: the later of its modification and change time (epoch seconds)."""
    return max(stat.st_mtime, stat.st_ctime)


def discover_files(
    directory: Path,
    media_type: str,
    window: SelectionWindow | None = None,
) -> list[LocalFile]:
    """Top-level files of ``directory`` with an extension of ``media_type``, sorted by name.

    With a ``window`` only files that arrived in its ``[start, end)`` are kept: arrival is the later
    of the modification and the change time, because a copy that keeps its timestamps (``cp -p``,
    ``rsync -t``) has an old modification time but a change time of when it was made.
    """
    kind = validate_media_type(media_type)
    found: list[LocalFile] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if not entry.is_file():
                continue
            if not has_media_extension(entry.name, kind):
                continue
            stat = entry.stat()
            if window is not None and not window.contains(datetime.fromtimestamp(arrival_time(stat), UTC)):
                continue
            found.append(LocalFile(path=Path(entry.path), size=stat.st_size, mtime=stat.st_mtime))
    found.sort(key=lambda item: item.name)
    return found
