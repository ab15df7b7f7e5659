"""A location is writable: a marker is written and deleted there, leaving nothing behind."""

from __future__ import annotations

import uuid
from typing import Any

from include.roboflow_batch.preflight.report import CheckResult

MARKER_PREFIX = ".roboflow-preflight-"


def _created_folders(folder: Any) -> list[Any]:
    """The folders of a local path that do not exist yet, deepest first (object stores have none)."""
    if getattr(folder, "protocol", "file") not in ("file", "local"):
        return []
    missing: list[Any] = []
    current = folder
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    return missing


def check_writable(folder: Any, check: str, what: str, fix: str) -> CheckResult:
    """Write and delete a marker in ``folder`` (an ``ObjectStoragePath``); folders made for it go too."""
    missing = _created_folders(folder)
    marker = folder / f"{MARKER_PREFIX}{uuid.uuid4().hex}"
    try:
        if missing:
            folder.mkdir(parents=True, exist_ok=True)
        marker.write_text("")
        marker.unlink()
    except Exception as exc:  # any store error is the answer to "is it writable?"
        return CheckResult(
            check, "failed", f"{what} {folder} is not writable: {type(exc).__name__}: {exc}.", fix
        )
    finally:
        for created in missing:
            try:
                created.rmdir()
            except OSError:
                break
    return CheckResult(check, "ok", f"{what} {folder} is writable (a marker was written and deleted).")
