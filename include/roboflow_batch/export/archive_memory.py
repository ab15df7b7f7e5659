"""Reading a small result archive that is held whole in memory, every member checked before any is used.

Most exported archives are a few hundred KiB holding hundreds of files of a few hundred bytes each:
for those, the per-member layers of a streamed extraction (file objects, buffers, one read per block)
cost more than the bytes. Here the archive is decompressed at once (up to :data:`MAX_EXTRACTED_BYTES`)
and each member's bytes are a slice of that buffer. Every member passes the same checks as in the
streamed extraction (:func:`~include.roboflow_batch.export.archives.check_member`,
:func:`~include.roboflow_batch.export.archives.member_path`) before the caller sees any of them, so a
hostile name fails the archive before a single byte is written.

Memory stays bounded: each download thread holds at most one archive (16 MiB), each extraction
(worker process or thread) one expanded archive (64 MiB); bigger archives are streamed.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from dataclasses import dataclass

from include.roboflow_batch.export.archives import (
    ArchiveLink,
    check_member,
    link_target,
    member_path,
)

#: Compressed archives up to this size are read whole into memory; larger ones are streamed.
MAX_IN_MEMORY_ARCHIVE = 16 * 1024 * 1024
#: Bytes an in-memory archive may expand to; beyond it the archive is streamed member by member.
MAX_EXTRACTED_BYTES = 64 * 1024 * 1024

_GZIP_MAGIC = b"\x1f\x8b"
_OTHER_COMPRESSIONS = (b"BZh", b"\xfd7zXZ\x00")


class TooBigForMemory(Exception):
    """The archive expands beyond what is held in memory (or needs tar features only streaming reads)."""


@dataclass
class ArchiveContents:
    """The regular files of an archive by path (bytes, in archive order; a repeated path keeps the last
    one, as extraction would), and its links, whose targets are files of the archive."""

    files: dict[str, memoryview]
    links: list[ArchiveLink]


def _tar_bytes(archive_name: str, data: bytes) -> bytes:
    if data.startswith(_OTHER_COMPRESSIONS):
        raise TooBigForMemory(archive_name)  # tarfile's streamed reader knows these
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
            tar = unzipped.read(MAX_EXTRACTED_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{archive_name} is not a readable tar archive: {exc}") from exc
    if len(tar) > MAX_EXTRACTED_BYTES:
        raise TooBigForMemory(archive_name)
    return tar


def read_archive(archive_name: str, data: bytes) -> ArchiveContents:
    """The checked members of a ``.tar``/``.tar.gz`` held in ``data``.

    Raises :class:`UnsafeArchiveError` naming the archive and member, ``ValueError`` for an unreadable
    or truncated archive, :class:`TooBigForMemory` when it must be streamed instead.
    """
    tar = _tar_bytes(archive_name, data)
    view = memoryview(tar)
    files: dict[str, memoryview] = {}
    links: list[ArchiveLink] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(tar), mode="r:") as archive:
            for member in archive:
                check_member(archive_name, member)
                if member.isdir():
                    if member.name.strip("./"):
                        member_path(archive_name, member.name)
                    continue
                path = member_path(archive_name, member.name)
                if member.issym() or member.islnk():
                    links.append(ArchiveLink(path, link_target(archive_name, member, path)))
                    continue
                if member.issparse():
                    raise TooBigForMemory(archive_name)  # holes are described, not stored: stream it
                end = member.offset_data + member.size
                if end > len(tar):
                    raise ValueError(f"{archive_name} is truncated: member {member.name!r} is incomplete")
                files.pop(path, None)  # a repeated path lands where its last copy is in the archive
                files[path] = view[member.offset_data : end]
    except tarfile.TarError as exc:
        raise ValueError(f"{archive_name} is not a readable tar archive: {exc}") from exc
    for found in links:
        if found.target not in files:
            raise ValueError(
                f"{archive_name}: link {found.name!r} points to {found.target!r}, "
                "which is not a file of the archive"
            )
    return ArchiveContents(files, links)
