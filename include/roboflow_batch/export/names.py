"""Names chosen by the server (files, parts, archives, shards, archive members) are untrusted input.

A name is only used to build a destination path once it is a plain relative path: ``/``-separated
segments, none empty, ``.`` or ``..``, no backslash, no NUL or other control character, no drive
letter and no leading ``/``. The same rule holds for ``file://``, ``s3://`` and ``gs://``, so an object
key can never climb out of its prefix (``a/../../b``) or collide through normalisation (``a//b``).
"""

from __future__ import annotations

import re

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_LENGTH = 1024


class UnsafeNameError(ValueError):
    """A name from the server is not a relative path that stays inside the destination."""


def _problem(name: object) -> str | None:
    if not isinstance(name, str) or not name:
        return "is empty or not a string"
    if len(name) > _MAX_LENGTH:
        return f"is longer than {_MAX_LENGTH} characters"
    if _CONTROL.search(name):
        return "contains a NUL or control character"
    if "\\" in name:
        return "contains a backslash"
    if name.startswith("/") or _DRIVE.match(name):
        return "is an absolute path"
    for segment in name.split("/"):
        if segment == "":
            return "has an empty path segment"
        if segment in (".", ".."):
            return f"has a {segment!r} path segment"
    return None


def check_relative_name(name: object, what: str) -> str:
    """Return ``name`` when it is a safe relative path; raise :class:`UnsafeNameError` naming it otherwise."""
    problem = _problem(name)
    if problem:
        raise UnsafeNameError(f"Refusing {what} {name!r} from the server: it {problem}.")
    return name  # type: ignore[return-value]


def path_in_folder(folder: str, name: str) -> str:
    """``name`` (a file or member path) inside ``folder``, both relative to the destination, checked."""
    return check_relative_name(f"{folder}/{name}" if folder else name, "destination path")
