"""Whose results a destination holds: an export never writes over another job's or window's results.

The ``manifest.json`` a finished export leaves names its job and its input batch (derived from the
window). A destination whose manifest names another batch, or a job that is not an attempt of this
interval, belongs to someone else.
"""

from __future__ import annotations

import json
from typing import Any


def manifest_object(manifest_text: str | None) -> dict[str, Any] | None:
    """The manifest's JSON object, or None when there is none or the text is not one (so not an
    export manifest)."""
    if manifest_text is None:
        return None
    try:
        manifest: Any = json.loads(manifest_text)
    except ValueError:
        return None
    return manifest if isinstance(manifest, dict) else None


def foreign_manifest_problem(
    manifest_text: str | None, *, uri: str, job_id: str, batch_id: str, related: set[str] | None = None
) -> str | None:
    """Why this export must not write into the destination whose manifest is ``manifest_text``, or None.

    An earlier attempt of the same interval (in ``related``: the job ids of the interval's job history)
    is not another job: the new attempt's results replace its own, also when it ran on a batch staged
    again under an id of its own (the first batch expired and Roboflow kept its id).
    """
    if manifest_text is None:
        return None
    manifest = manifest_object(manifest_text)
    if manifest is None:
        return f"{uri} is not an export manifest; refusing to write results next to it"
    owner_job = manifest.get("job_id")
    ingested = manifest.get("ingested")
    owner_batch = ingested.get("batch_id") if isinstance(ingested, dict) else None
    if (owner_batch == batch_id and owner_job == job_id) or owner_job in (related or set()):
        return None
    return (
        f"{uri} belongs to job {owner_job!r} (input batch {owner_batch!r}), not to job {job_id!r} "
        f"(input batch {batch_id!r}): the destination holds the results of another job or window. "
        "Give each window its own destination (for example with {interval_start} in export.destination)"
    )


def skipped_only_manifest_problem(
    manifest_text: str | None, *, uri: str, window: dict[str, Any]
) -> str | None:
    """Why a window of skipped objects only must not write its manifest over ``manifest_text``, or None.

    Only an earlier manifest of the same window that processed nothing may be replaced: anything else
    describes results (of this window's earlier run, or of another window) that this one would hide.
    """
    if manifest_text is None:
        return None
    manifest = manifest_object(manifest_text)
    if manifest is None:
        return f"{uri} is not an export manifest; refusing to write a manifest over it"
    jobs = manifest.get("job_ids") if "job_ids" in manifest else [manifest.get("job_id")]
    if manifest.get("window") == window and not jobs:
        return None
    return (
        f"{uri} already holds the results of job(s) {jobs!r} (window {manifest.get('window')!r}); "
        f"this run of window {window!r} found only skipped objects and will not replace them. "
        "Give each window its own destination (for example with {interval_start} in export.destination)"
    )
