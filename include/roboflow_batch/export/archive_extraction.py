"""Extracting an archive held in memory: every member checked, hashed and counted, then all written at once.

Free of Airflow, so that worker processes can run it for a local destination (see
:mod:`include.roboflow_batch.export.worker_processes`); download threads run it for object stores.
Nothing is written until every member was found safe and every result file readable, and the
members become visible together (see ``write_folder`` of the targets).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

from include.roboflow_batch.export.archive_memory import read_archive
from include.roboflow_batch.export.names import path_in_folder
from include.roboflow_batch.export.results import SourceResult, count_result_bytes, result_format


class FilesTarget(Protocol):
    def write_folder(self, folder: str, files: Sequence[tuple[str, memoryview]]) -> None: ...


def extract_in_memory(
    target: FilesTarget, folder: str, archive_name: str, data: bytes, name_field: str | None
) -> SourceResult:
    """Write the members of ``data`` (the archive ``archive_name``) under ``folder`` of ``target``.

    Raises ``TooBigForMemory`` (nothing written) when the archive must be streamed instead.
    """
    contents = read_archive(archive_name, data)
    # By destination path: a link that repeats a member's path replaces it, as extraction would.
    planned: dict[str, memoryview] = {}
    for path, body in contents.files.items():
        planned[path_in_folder(folder, path)] = body
    for link in contents.links:
        planned[path_in_folder(folder, link.name)] = contents.files[link.target]
    result = SourceResult()
    for relpath, body in planned.items():
        result.files.append({"path": relpath, "size": len(body), "sha256": hashlib.sha256(body).hexdigest()})
        fmt = result_format(relpath)
        if fmt:
            result.counts.add(count_result_bytes(body, fmt, relpath, name_field))
    target.write_folder(folder, list(planned.items()))
    result.written = len(result.files)
    return result
