"""One answer per destination: how a new attempt's results replace an earlier answer, on any store.

A destination (a window's export folder) holds one answer: ``manifest.json`` and the files it lists.
A reader starts from the manifest, which is always written last. Object stores have no atomic
rename of a folder, so a new attempt never writes over the files of the answer in place: it is
exported into a staging folder, and the manifest is switched to it before anything of the earlier
answer is touched:

1. the new attempt is exported into ``_attempts/staging-<job id>/`` (resumable, like any export);
2. the earlier answer's manifest is kept as ``_attempts/<k>/manifest.json``;
3. **switch**: ``manifest.json`` now describes the new attempt, its files listed in the staging
   folder, with ``switch.state`` ``moving-aside``. From here on the answer is the new attempt's;
4. every other file of the destination (the earlier answer, its ``_progress/``, leftovers of an
   export that never finished) is moved into ``_attempts/<k>/``;
5. ``switch.state`` becomes ``promoting`` and each staged file is placed at its final path (a hard
   link locally, a server-side copy on object stores), the staged copy kept;
6. the final ``manifest.json`` lists the files at their final paths; the staging folder is removed.

Each step can run again after a crash: a re-run of the export that finds the manifest naming its own
job with a ``switch`` carries on from the recorded state. At every moment the manifest lists files
that exist with the listed sizes and hashes, and they are all one attempt's. Earlier answers are
moved aside rather than deleted: nothing is lost, and they can be compared or removed by hand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from include.roboflow_batch.export.destination import MANIFEST_FILE, Destination

ATTEMPTS_FOLDER = "_attempts"
_STAGING_PREFIX = "staging-"
MOVING_ASIDE = "moving-aside"
PROMOTING = "promoting"


def staging_folder(job_id: str) -> str:
    """Where the export of ``job_id`` is written while it replaces an earlier answer."""
    return f"{ATTEMPTS_FOLDER}/{_STAGING_PREFIX}{job_id}"


def _is_bookkeeping(relpath: str) -> bool:
    return relpath == MANIFEST_FILE or relpath.startswith(f"{ATTEMPTS_FOLDER}/")


def _write(dest: Destination, manifest: Mapping[str, Any]) -> None:
    # One line: json's C encoder only runs without indentation (several times faster on big exports).
    dest.put_text(MANIFEST_FILE, json.dumps(manifest, sort_keys=True, separators=(",", ":")) + "\n")


def next_replaced_folder(dest: Destination, old: Mapping[str, Any] | None) -> str:
    """``_attempts/<k>``: one more than the answers already moved aside (the manifest counts them; a
    destination without one is looked at)."""
    if old is not None:
        return f"{ATTEMPTS_FOLDER}/{len(old.get('replaced') or []) + 1}"
    taken = [
        int(part) for path in dest.files_under(ATTEMPTS_FOLDER) if (part := path.split("/")[1]).isdigit()
    ]
    return f"{ATTEMPTS_FOLDER}/{max(taken, default=0) + 1}"


def replaced_entry(old: Mapping[str, Any] | None, folder: str) -> dict[str, Any]:
    """What the new manifest says about the answer it replaces (``replaces``, one of ``replaced``)."""
    entry: dict[str, Any] = {"moved_to": f"{folder}/", "replaced_at": datetime.now(UTC).isoformat()}
    if old is None:
        # Files of an export that never wrote its manifest: no answer, only leftovers.
        return {**entry, "job_id": None, "attempt": None, "unfinished": True}
    repairs = [repair.get("job_id") for repair in old.get("repairs") or [] if isinstance(repair, Mapping)]
    return {
        **entry,
        "job_id": old.get("job_id"),
        "attempt": old.get("attempt", 1),
        **({"repair_job_ids": repairs} if repairs else {}),
    }


def with_history(
    manifest: dict[str, Any], old: Mapping[str, Any] | None, replaced: dict[str, Any] | None
) -> dict[str, Any]:
    """``manifest`` with the destination's history: every answer moved aside so far, the newest last,
    and ``replaces`` when this manifest's answer replaced one."""
    history = [entry for entry in (old or {}).get("replaced") or [] if isinstance(entry, Mapping)]
    if replaced is not None:
        history = [*history, replaced]
        manifest["replaces"] = replaced
    elif old is not None and old.get("replaces") and old.get("job_id") == manifest.get("job_id"):
        manifest["replaces"] = old["replaces"]  # the same answer written again (a re-run of its export)
    if history:
        manifest["replaced"] = history
    return manifest


def switch_to(
    dest: Destination,
    new: dict[str, Any],
    old_text: str | None,
    old: Mapping[str, Any] | None,
    job_id: str,
) -> dict[str, Any]:
    """Make the staged export of ``job_id`` (``new``: its manifest, paths relative to the staging
    folder) the destination's answer; returns the final manifest."""
    staging = staging_folder(job_id)
    folder = next_replaced_folder(dest, old)
    if old_text is not None:
        dest.put_text(f"{folder}/{MANIFEST_FILE}", old_text)
    pointer = with_history(dict(new), old, replaced_entry(old, folder))
    pointer["files"] = [{**entry, "path": f"{staging}/{entry['path']}"} for entry in new["files"]]
    pointer["switch"] = {"state": MOVING_ASIDE, "staging": staging, "replaced": folder}
    _write(dest, pointer)
    return finish_switch(dest, pointer)


def finish_switch(dest: Destination, pointer: dict[str, Any]) -> dict[str, Any]:
    """Carry a switch on from the state its manifest records; returns the final manifest."""
    switch = dict(pointer["switch"])
    staging, folder = str(switch["staging"]), str(switch["replaced"])
    if switch["state"] == MOVING_ASIDE:
        for relpath in dest.files_under():
            if not _is_bookkeeping(relpath):
                dest.move(relpath, f"{folder}/{relpath}")
        switch["state"] = PROMOTING
        pointer = {**pointer, "switch": switch}
        _write(dest, pointer)
    prefix = f"{staging}/"
    for relpath in dest.files_under(staging):
        target = relpath[len(prefix) :]
        if target != MANIFEST_FILE:
            dest.place_copy(relpath, target)
    final = {key: value for key, value in pointer.items() if key != "switch"}
    final["files"] = [
        {**entry, "path": str(entry["path"]).removeprefix(prefix)} for entry in pointer["files"]
    ]
    _write(dest, final)
    dest.remove_folder(staging)
    return final


ExportMode = Literal["in_place", "replace", "finish_switch"]


def export_mode(
    manifest: Mapping[str, Any] | None, job_id: str, present: Mapping[str, int], own_progress: bool
) -> ExportMode:
    """How an export of ``job_id`` writes into a destination whose ``manifest.json`` is ``manifest``
    (already checked to be this job's or an earlier attempt's) and which holds the files ``present``.

    ``own_progress``: the destination's ``_progress/`` records only this job's sources.
    """
    if manifest is None:
        # Files without a manifest are an export that never finished: this job's own one is
        # resumed in place; anything else is moved aside by a switch.
        leftovers = [path for path in present if not _is_bookkeeping(path)]
        return "in_place" if not leftovers or own_progress else "replace"
    if manifest.get("job_id") != job_id:
        return "replace"
    return "finish_switch" if manifest.get("switch") else "in_place"
