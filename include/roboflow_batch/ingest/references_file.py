"""Reading and validating a references JSONL file (one ``{"name", "url"}`` object per line).

The file is streamed, never loaded whole. Every line is checked before anything is sent, so a bad
line fails the task with its file and line number and no partial ingest. Signed URLs are bearer
secrets: messages name lines and fields, never a URL.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = [
    "Reference",
    "ReferencesFileError",
    "ReferencesSpool",
    "iter_reference_lines",
    "spool_references",
]

_ALLOWED_PREFIXES = ("https://", "http://")


class ReferencesFileError(ValueError):
    """A references file that cannot be ingested as it is (names the file and the line)."""


@dataclass(frozen=True)
class Reference:
    name: str
    url: str

    def to_wire(self) -> dict[str, str]:
        return {"name": self.name, "url": self.url}


_CONTROL_CHARACTERS = frozenset(chr(code) for code in (*range(32), 127))


def unsafe_name_reason(name: str) -> str | None:
    """Why ``name`` cannot be a reference name, or None.

    The service stores the name and the export writes results under it, so it must stay a relative
    path inside any folder: no absolute path, drive, backslash, control character (NUL included), and
    no ``.``, ``..`` or empty segment.
    """
    if _CONTROL_CHARACTERS.intersection(name):
        return "it contains a control character"
    if "\\" in name:
        return "it contains a backslash"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        return "it is an absolute path"
    if "." in name or "/" in name:
        segments = name.split("/")
        if any(segment in ("", ".", "..") for segment in segments):
            return "it has a '.', '..' or empty path segment"
    return None


def _parse_line(raw: bytes, source: str, line_number: int) -> Reference:
    where = f"{source}, line {line_number}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReferencesFileError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        item: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReferencesFileError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(item, dict):
        raise ReferencesFileError(f"{where}: expected a JSON object with 'name' and 'url'")
    name = item.get("name")
    url = item.get("url")
    if not isinstance(name, str) or not name.strip():
        raise ReferencesFileError(f"{where}: field 'name' must be a non-empty string")
    unsafe = unsafe_name_reason(name)
    if unsafe is not None:
        raise ReferencesFileError(f"{where}: name {name!r} is refused: {unsafe}")
    if not isinstance(url, str) or not url:
        raise ReferencesFileError(f"{where}: field 'url' must be a non-empty string")
    # A prefix test, not urlsplit: this runs once per line of files with millions of lines.
    if not url[:8].lower().startswith(_ALLOWED_PREFIXES):
        scheme = url.split(":", 1)[0] if ":" in url else "none"
        raise ReferencesFileError(f"{where}: field 'url' must be an http(s) URL (scheme is {scheme[:16]!r})")
    return Reference(name=name, url=url)


def _iter_lines(stream: IO[bytes], block_size: int = 1 << 20) -> Iterator[bytes]:
    # Block reads: line iteration on remote (fsspec) files goes through Python-level readline.
    pending = b""
    while block := stream.read(block_size):
        lines = (pending + block).split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


def iter_reference_lines(stream: IO[bytes], source: str) -> Iterator[tuple[int, bytes, Reference]]:
    """Yield ``(line_number, raw_line, reference)`` for every non-blank line, validating each one."""
    for line_number, raw in enumerate(_iter_lines(stream), start=1):
        line = raw.strip()
        if not line:
            continue
        yield line_number, line, _parse_line(line, source, line_number)


def _name_key(name: str) -> bytes:
    # 8-byte digests keep the duplicate check small for files with millions of lines.
    return hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()


@dataclass
class ReferencesSpool:
    """A validated local copy of a references file, with per-chunk fingerprints of the names."""

    path: Path
    source: str
    count: int
    chunk_size: int
    chunk_fingerprints: list[str] = field(default_factory=list)
    names_fingerprint: str = ""

    def iter_chunks(self) -> Iterator[tuple[int, list[Reference]]]:
        """Yield ``(chunk_index, references)`` of at most ``chunk_size`` references each."""
        chunk: list[Reference] = []
        index = 0
        with self.path.open("rb") as stream:
            for raw in stream:
                item = json.loads(raw)
                chunk.append(Reference(item["name"], item["url"]))
                if len(chunk) == self.chunk_size:
                    yield index, chunk
                    chunk = []
                    index += 1
        if chunk:
            yield index, chunk


def spool_references(stream: IO[bytes], source: str, destination: Path, chunk_size: int) -> ReferencesSpool:
    """Validate ``stream`` line by line into ``destination``; fail on the first bad or duplicate line.

    The fingerprints hash the names only (not the URLs, which change each time they are signed), so
    a re-generated references file for the same objects yields the same ingest ids.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    seen: dict[bytes, int] = {}
    count = 0
    chunk_hash = hashlib.blake2b(digest_size=8)
    all_hash = hashlib.blake2b(digest_size=8)
    fingerprints: list[str] = []
    with destination.open("wb") as out:
        for line_number, line, reference in iter_reference_lines(stream, source):
            key = _name_key(reference.name)
            first = seen.setdefault(key, line_number)
            if first != line_number:
                raise ReferencesFileError(
                    f"{source}, line {line_number}: duplicate name {reference.name!r} (first on line {first})"
                )
            # The validated line itself (one JSON object); extra keys are dropped when chunks are read.
            out.write(line + b"\n")
            encoded = reference.name.encode("utf-8") + b"\n"
            chunk_hash.update(encoded)
            all_hash.update(encoded)
            count += 1
            if count % chunk_size == 0:
                fingerprints.append(chunk_hash.hexdigest())
                chunk_hash = hashlib.blake2b(digest_size=8)
    if count % chunk_size:
        fingerprints.append(chunk_hash.hexdigest())
    return ReferencesSpool(
        path=destination,
        source=source,
        count=count,
        chunk_size=chunk_size,
        chunk_fingerprints=fingerprints,
        names_fingerprint=all_hash.hexdigest() if count else "",
    )
