"""Durations as people write them: ``90s``, ``15m``, ``1h``, ``1d``, ``1w`` (astro.yaml), or plain seconds."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def is_duration(text: str) -> bool:
    """True when ``text`` reads as a duration such as ``1h`` (and so not as a cron expression)."""
    return bool(_DURATION.match(text))


def timedelta_of_seconds(value: object) -> timedelta | None:
    """``value`` as a timedelta if it is one or a number of seconds (int, float, digit string), else None."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):  # an int to Python, but never meant as a number of seconds
        return None
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    if isinstance(value, str) and value.strip().isdigit():
        return timedelta(seconds=int(value))
    return None


def parse_duration(value: object) -> timedelta:
    """A timedelta from ``"1h"``-style text, a number of seconds, or a timedelta.

    Raises ValueError with an example of the accepted forms.
    """
    if isinstance(value, str) and (match := _DURATION.match(value)):
        amount, unit = match.groups()
        result: timedelta | None = timedelta(**{_UNITS[unit]: float(amount)})
    else:
        result = timedelta_of_seconds(value)
    if result is None:
        raise ValueError(f"expected a duration such as '30m', '1h' or '1d', got {value!r}")
    if result <= timedelta(0):
        raise ValueError(f"a duration must be positive, got {value!r}")
    return result


def format_duration(delta: timedelta) -> str:
    """The shortest ``1h``-style spelling of ``delta`` (seconds when nothing shorter is exact)."""
    seconds = int(delta.total_seconds())
    for suffix, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{suffix}"
    return f"{seconds}s"
