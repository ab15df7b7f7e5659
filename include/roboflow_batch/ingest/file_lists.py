"""A local window's file names split into lists of at most ``max_objects_per_file``, one list per batch.

The lists are small JSONL files (one JSON string, a file name, per line) written next to the run's
state, so only their paths travel through XCom. Names read back are checked: a list is outside input
once written, and only plain top-level names of the source directory are accepted.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

from include.roboflow_batch.ingest.local_files import (
    DirectoryScan,
    LocalFile,
    SkippedEntry,
    resolve_directory,
    scan_directory,
)
from include.roboflow_batch.media import has_media_extension, validate_media_type
from include.roboflow_batch.references.window import SelectionWindow

__all__ = [
    "FileListChunk",
    "FileListError",
    "local_files_to_send",
    "read_file_list",
    "skipped_list_path",
    "write_file_lists",
    "write_skipped_list",
]

LIST_STEM = "files"
# The same name and line format as a bucket listing's ``<refs>.skipped.jsonl``: one reader for both.
SKIPPED_LIST = f"{LIST_STEM}.skipped.jsonl"


class FileListChunk(TypedDict):
    index: int
    references_uri: str
    count: int


class FileListError(ValueError):
    """A file list cannot be used; the message names the list and the line."""


def _list_path(directory: Path, index: int, total: int) -> Path:
    name = f"{LIST_STEM}.jsonl" if total == 1 else f"{LIST_STEM}.chunk-{index:04d}.jsonl"
    return directory / name


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    """Write ``lines`` to a temporary file and rename it: the file is either complete or absent."""
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.writelines(lines)
    os.replace(scratch, path)


def skipped_list_path(directory: Path) -> Path:
    return directory / SKIPPED_LIST


def write_skipped_list(skipped: Sequence[SkippedEntry], directory: Path) -> str | None:
    """Write one ``{"key", "reason", "size"}`` line per skipped entry beside the file lists.

    Returns its ``file://`` URI, or None (and no file: an older one is removed) when nothing was skipped.
    """
    path = skipped_list_path(directory)
    if not skipped:
        path.unlink(missing_ok=True)
        return None
    directory.mkdir(parents=True, exist_ok=True)
    _write_lines(path, [json.dumps(entry.to_dict()) + "\n" for entry in skipped])
    return path.as_uri()


def write_file_lists(
    files: Sequence[LocalFile], directory: Path, max_objects_per_file: int, max_files: int
) -> list[FileListChunk]:
    """Write ``files`` (sorted) as lists of at most ``max_objects_per_file`` names under ``directory``.

    Each list is written to a temporary file and renamed, so a list is either complete or absent;
    rewriting the same window gives the same lists.
    """
    if max_objects_per_file < 1:
        raise ValueError(f"max_objects_per_file must be >= 1, got {max_objects_per_file}")
    total = -(-len(files) // max_objects_per_file)
    if total > max_files:
        raise FileListError(
            f"{len(files)} files need {total} batches of at most {max_objects_per_file} (max_batch_objects), "
            f"more than [core] max_map_length allows ({max_files})"
        )
    directory.mkdir(parents=True, exist_ok=True)
    chunks: list[FileListChunk] = []
    for index in range(total):
        part = files[index * max_objects_per_file : (index + 1) * max_objects_per_file]
        path = _list_path(directory, index, total)
        _write_lines(path, [json.dumps(item.name) + "\n" for item in part])
        chunks.append(FileListChunk(index=index, references_uri=path.as_uri(), count=len(part)))
    return chunks


def read_file_list(list_uri: str, source: Path, media_type: str) -> list[LocalFile]:
    """The files of ``source`` named by the list at ``list_uri`` (a path or ``file://`` URI)."""
    kind = validate_media_type(media_type)
    path = Path(list_uri.removeprefix("file://"))
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise FileListError(f"file list {path} cannot be read: {exc}") from exc
    found: list[LocalFile] = []
    for number, line in enumerate(lines, start=1):
        try:
            name = json.loads(line)
        except ValueError:
            name = None
        if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name:
            raise FileListError(f"file list {path} line {number}: not a plain file name: {line[:80]!r}")
        if not has_media_extension(name, kind):
            raise FileListError(f"file list {path} line {number}: {name!r} is not one of the {kind}")
        try:
            stat = (source / name).stat()
        except OSError as exc:
            raise FileListError(f"file list {path} line {number}: {name!r} is gone from {source}") from exc
        found.append(LocalFile(path=source / name, size=stat.st_size, mtime=stat.st_mtime))
    return found


def local_files_to_send(
    local_directory: str, media_type: str, window: SelectionWindow, file_list: str | None
) -> tuple[Path, DirectoryScan]:
    """The directory and the files to send: those of ``file_list`` (whose listing accounted for the
    rest), else the window's files with the entries skipped."""
    directory = resolve_directory(local_directory)
    if file_list:
        return directory, DirectoryScan(files=read_file_list(file_list, directory, media_type))
    return directory, scan_directory(directory, media_type, window)
