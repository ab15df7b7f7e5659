"""Checks of the export operator's options, before any remote call; each message names the option."""

from __future__ import annotations

from typing import Any

MISMATCH_POLICIES = ("fail", "warn")


def checked_expected_count(
    *, job_id: str, max_concurrency: Any, transfer_processes: Any, on_mismatch: Any, expected_count: Any
) -> int | None:
    """The expected input count (None when not given); ``ValueError`` naming the first bad option."""
    from include.roboflow_batch.api.ids import validate_job_id

    try:
        validate_job_id(job_id)
    except ValueError as exc:
        raise ValueError(f"job_id: {exc}") from None
    if not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ValueError(f"max_concurrency must be a positive integer, got {max_concurrency!r}")
    if transfer_processes is not None and (not isinstance(transfer_processes, int) or transfer_processes < 0):
        raise ValueError(f"transfer_processes must be a whole number, 0 or more, got {transfer_processes!r}")
    if on_mismatch not in MISMATCH_POLICIES:
        raise ValueError(f"on_mismatch must be one of {MISMATCH_POLICIES}, got {on_mismatch!r}")
    if expected_count in (None, ""):
        return None
    return whole_count("expected_count", expected_count)


def whole_count(option: str, value: Any) -> int:
    """``value`` as a count (a whole number, 0 or more); ``ValueError`` naming ``option`` otherwise."""
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{option} must be a whole number, got {value!r}") from None
    if count < 0:
        raise ValueError(f"{option} must not be negative, got {count}")
    return count
