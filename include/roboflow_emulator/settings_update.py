"""What the fault settings and the service switches share: a body of wire-named fields applied to a copy."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, TypeVar

T = TypeVar("T")


def updated_copy(body: dict[str, object], current: T, wire_names: dict[str, str], what: str) -> T:
    """A copy of the dataclass ``current`` to apply ``body`` to; unknown wire names are refused."""
    unknown = sorted(set(body) - set(wire_names))
    if unknown:
        raise ValueError(f"Unknown {what} {unknown}; known: {sorted(wire_names)}.")
    fields: dict[str, Any] = asdict(current)  # type: ignore[call-overload]
    return type(current)(**fields)
