"""Reversible reference names for storage keys.

A reference name must be a safe file name (Roboflow stores it and the export names results
after it), unique per key, and map back to the source key so results join to their objects.
Letters, digits, ``.`` and ``-`` are kept; ``/`` becomes ``__``; every other byte of the UTF-8
key becomes ``_XX`` (upper-case hex). ``_`` is the escape character, so decoding is unambiguous.
A leading ``.`` is escaped too, so no name is hidden or a relative path (``.``, ``..``).
"""

from __future__ import annotations

import re
import string

# Most file systems cap a single name at 255 bytes.
MAX_NAME_LENGTH = 255

_KEPT = frozenset((string.ascii_letters + string.digits + ".-").encode())
_ENCODED_BYTE = {b: f"_{b:02X}" for b in range(256)}
_TOKEN = re.compile(r"__|_([0-9A-F]{2})|([A-Za-z0-9.\-]+)|(.)", re.DOTALL)
# A name without escapes is its own key (most names: one C-level match instead of the token loop).
_PLAIN = re.compile(r"[A-Za-z0-9.\-]+")


class NameTooLongError(ValueError):
    """The encoded name of a key exceeds MAX_NAME_LENGTH."""


def name_for_key(key: str) -> str:
    """The reference name of a storage key; ``key_for_name(name_for_key(k)) == k``."""
    if not key:
        raise ValueError("key must be a non-empty string")
    data = key.encode("utf-8")
    parts: list[str] = []
    for index, byte in enumerate(data):
        if byte == 0x2F:  # "/"
            parts.append("__")
        elif byte in _KEPT and not (index == 0 and byte == 0x2E):
            parts.append(chr(byte))
        else:
            parts.append(_ENCODED_BYTE[byte])
    name = "".join(parts)
    if len(name) > MAX_NAME_LENGTH:
        raise NameTooLongError(
            f"the reference name for key {key!r} would be {len(name)} characters long "
            f"(the limit is {MAX_NAME_LENGTH})"
        )
    return name


def key_for_name(name: str) -> str:
    """The storage key a reference name was made from (the inverse of name_for_key)."""
    if not name:
        raise ValueError("name must be a non-empty string")
    if _PLAIN.fullmatch(name):
        return name
    out = bytearray()
    for match in _TOKEN.finditer(name):
        token = match.group(0)
        if token == "__":
            out.append(0x2F)
        elif match.group(1) is not None:
            out.append(int(match.group(1), 16))
        elif match.group(2) is not None:
            out.extend(token.encode("ascii"))
        else:
            raise ValueError(f"{name!r} is not a reference name: unexpected {token!r} at {match.start()}")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{name!r} is not a reference name: its escapes are not UTF-8") from err
