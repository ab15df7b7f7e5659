"""Result rows from exported job outputs (JSONL or CSV files, wherever they were extracted)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


def _cell(value: str) -> Any:
    """CSV cells hold text; lists, objects and numbers come back as JSON."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def load_rows(directory: Path) -> list[dict[str, Any]]:
    """Every result row of every `.jsonl` and `.csv` file below `directory` (the CLI's own hidden
    `.export_log.jsonl` excluded)."""
    rows: list[dict[str, Any]] = []
    for path in result_files(directory):
        if path.suffix == ".jsonl":
            rows.extend(json.loads(line) for line in path.read_text().splitlines() if line.strip())
        elif path.suffix == ".csv":
            with path.open(newline="") as handle:
                rows.extend({k: _cell(v) for k, v in row.items()} for row in csv.DictReader(handle))
    return rows


def result_files(directory: Path) -> list[Path]:
    return sorted(
        p for p in directory.rglob("*") if p.suffix in (".jsonl", ".csv") and not p.name.startswith(".")
    )
