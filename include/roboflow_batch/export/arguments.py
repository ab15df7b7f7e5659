"""Checks of the export operator's options, before any remote call; each message names the option."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from include.roboflow_batch.counts import optional_count

if TYPE_CHECKING:
    from include.roboflow_batch.export.dispatch import TransferSettings

MISMATCH_POLICIES = ("fail", "warn")


@dataclass(frozen=True)
class ReconcileSettings:
    """What a manifest that does not reconcile does (``on_mismatch``), and the connection that reads
    the references file and the skipped list the manifest is reconciled against."""

    on_mismatch: str = "fail"
    references_conn_id: str | None = None


def checked_expected_count(
    *, job_id: str, transfer: TransferSettings, reconcile: ReconcileSettings, expected_count: Any
) -> int | None:
    """The expected input count (None when not given); ``ValueError`` naming the first bad option.

    The settings come from DAG code as given: any of their values may still be of the wrong type.
    """
    from include.roboflow_batch.api.ids import validate_job_id

    try:
        validate_job_id(job_id)
    except ValueError as exc:
        raise ValueError(f"job_id: {exc}") from None
    max_concurrency: object = transfer.max_concurrency
    transfer_processes: object = transfer.transfer_processes
    on_mismatch: object = reconcile.on_mismatch
    if not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise ValueError(f"max_concurrency must be a positive integer, got {max_concurrency!r}")
    if transfer_processes is not None and (not isinstance(transfer_processes, int) or transfer_processes < 0):
        raise ValueError(f"transfer_processes must be a whole number, 0 or more, got {transfer_processes!r}")
    if on_mismatch not in MISMATCH_POLICIES:
        raise ValueError(f"on_mismatch must be one of {MISMATCH_POLICIES}, got {on_mismatch!r}")
    return optional_count("expected_count", expected_count)
