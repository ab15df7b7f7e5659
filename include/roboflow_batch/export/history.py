"""The job history a manifest records: creations, restarts and re-attachments of a window's job."""

from __future__ import annotations

import json
from typing import Any


def job_history_entries(value: object) -> list[dict[str, Any]] | None:
    """The start-job task's job history, given as a list or as its JSON text (a mapped export's template).

    Anything else (no history pushed, a damaged value) gives None: the manifest then has no history.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, list) and all(isinstance(entry, dict) for entry in value):
        return value
    return None
