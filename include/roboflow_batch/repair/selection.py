"""Which objects of a window a repair takes, read from the window's ``manifest.json``, and the ids
and folder of the repair.

A repair takes every object the window's answer did not process: those that failed at ingest (an
unreachable URL, an unsupported file, ...), those the workflow could not process, and those that
were staged but have no result row. It stages them in a child batch and runs one job over them, both
with ids derived from the window's own and the repair's number, so a retry or a re-run of the same
repair finds the same batch and job; the number is one more than the repairs the window's history
already names, so a repair that was merged is never run again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from include.roboflow_batch.api.ids import derive_batch_id, derive_job_id
from include.roboflow_batch.export.ownership import manifest_object

FAILED_AT_INGEST = "failed at ingest"
FAILED_IN_PROCESSING = "failed in processing"
WITHOUT_ROWS = "no result row"
REPAIR_FOLDER_PREFIX = "repair-"


class RepairRefused(ValueError):
    """The window cannot be repaired as it stands; the message says why and what to do instead."""


@dataclass(frozen=True)
class RepairObject:
    """One object to re-process: its staged name, its key in the source (None when unknown), and why."""

    name: str
    source_key: str | None
    why: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source_key": self.source_key, "why": self.why, "detail": self.detail}


def checked_window_manifest(text: str | None, uri: str) -> dict[str, Any]:
    """The window's manifest, refused with the reason when a repair cannot start from it."""
    if text is None:
        raise RepairRefused(
            f"the window has no manifest at {uri}: it was never exported, so nothing says which objects "
            "failed. Run the window itself (without repair)."
        )
    manifest = manifest_object(text)
    if manifest is not None and manifest.get("kind") == "combined":
        if not manifest.get("chunks"):
            return manifest  # every object was skipped while listing: nothing was processed or failed
        raise RepairRefused(
            f"the window was split into {len(manifest['chunks'])} batches ({uri}); a repair takes a "
            "window of one batch. Re-run the window instead."
        )
    if manifest is None or not isinstance(manifest.get("files"), list):
        raise RepairRefused(f"{uri} is not an export manifest; a repair reads the window's own manifest")
    if manifest.get("switch"):
        raise RepairRefused(
            f"{uri} is being switched to job {manifest.get('job_id')}'s results; re-run the window to "
            "finish that first."
        )
    return manifest


def _entries(manifest: Mapping[str, Any], *path: str) -> list[Mapping[str, Any]]:
    value: Any = manifest
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return [entry for entry in value or [] if isinstance(entry, Mapping)]


def objects_to_repair(manifest: Mapping[str, Any]) -> list[RepairObject]:
    """Every object of the window's answer without a result, once, in name order."""
    found: dict[str, RepairObject] = {}
    for entry in _entries(manifest, "failed", "files"):
        name = str(entry.get("file_name") or "")
        detail = f"{entry.get('type') or 'unknown'}: {entry.get('reason') or ''}".rstrip(": ")
        found.setdefault(name, RepairObject(name, entry.get("source_key"), FAILED_AT_INGEST, detail))
    for entry in _entries(manifest, "processing_failed", "files"):
        name = str(entry.get("file_name") or "")
        found.setdefault(
            name,
            RepairObject(name, entry.get("source_key"), FAILED_IN_PROCESSING, str(entry.get("reason") or "")),
        )
    for entry in _entries(manifest, "sources"):
        name = str(entry.get("name") or "")
        if not entry.get("rows"):
            found.setdefault(name, RepairObject(name, entry.get("source_key"), WITHOUT_ROWS))
    found.pop("", None)
    return [found[name] for name in sorted(found)]


def repairs_so_far(manifest: Mapping[str, Any]) -> int:
    """Repairs the window's history names: merged into its answer, and into answers since replaced."""
    current = len(_entries(manifest, "repairs"))
    replaced = sum(len(entry.get("repair_job_ids") or []) for entry in _entries(manifest, "replaced"))
    return current + replaced


@dataclass(frozen=True)
class RepairPlan:
    """A repair of one window: its number, child batch and job, folder and what it takes."""

    number: int
    batch_id: str
    job_id: str
    folder: str
    objects: Sequence[RepairObject]

    def to_dict(self, window_destination: str) -> dict[str, Any]:
        """What the plan task returns about the repair (small: counts, not the objects)."""
        by_reason: dict[str, int] = {}
        for obj in self.objects:
            by_reason[obj.why] = by_reason.get(obj.why, 0) + 1
        return {
            "number": self.number,
            "folder": self.folder,
            "window_destination": window_destination,
            "objects": len(self.objects),
            "objects_by_reason": dict(sorted(by_reason.items())),
        }


def plan_repair(manifest: Mapping[str, Any], window_batch_id: str, window_job_id: str) -> RepairPlan:
    """The next repair of the window whose answer is ``manifest``; no objects: nothing to repair."""
    number = repairs_so_far(manifest) + 1
    return RepairPlan(
        number=number,
        batch_id=derive_batch_id(window_batch_id, "repair", str(number)),
        job_id=derive_job_id(window_job_id, "repair", str(number)),
        folder=f"{REPAIR_FOLDER_PREFIX}{number}",
        objects=objects_to_repair(manifest),
    )


def window_manifest(destination: str, conn_id: str | None) -> dict[str, Any]:
    """Read and check the manifest of the window whose export folder is ``destination``."""
    from include.roboflow_batch.export.destination import MANIFEST_FILE, Destination

    folder = Destination(destination, conn_id)
    return checked_window_manifest(folder.read_text(MANIFEST_FILE), folder.uri_of(MANIFEST_FILE))


def repair_references_uri(references_uri: str | None, number: int) -> str | None:
    """The repair's own references file beside the window's: ``refs.jsonl`` -> ``refs.repair-1.jsonl``."""
    if references_uri is None:
        return None
    stem, suffix = (
        (references_uri[: -len(".jsonl")], ".jsonl")
        if references_uri.endswith(".jsonl")
        else (
            references_uri,
            "",
        )
    )
    return f"{stem}.{REPAIR_FOLDER_PREFIX}{number}{suffix}"
