"""Counts handed from one task to the next: a whole number, or None when it is not known.

A count travels as a number (an XCom value, not a rendered template), so a missing value (None) is
never confused with 0 or an empty string; text is refused with a message naming the argument.
"""

from __future__ import annotations


def optional_count(option: str, value: object) -> int | None:
    """``value`` when it is a count (a whole number, 0 or more) or None; ``ValueError`` naming ``option``."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{option} must be a whole number or None, got {value!r} ({type(value).__name__})")
    if value < 0:
        raise ValueError(f"{option} must not be negative, got {value}")
    return value
