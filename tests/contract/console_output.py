"""Reading what the CLI prints: Rich tables and Python dict reprs, one per line."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

_BORDERS = "│┃║|"


def table_rows(output: str) -> list[list[str]]:
    """The cells of every table line (continuation lines of wrapped cells included)."""
    rows = []
    for line in output.splitlines():
        stripped = line.strip()
        if len(stripped) > 1 and stripped[0] in _BORDERS and stripped[-1] in _BORDERS:
            cells = [cell.strip() for cell in stripped[1:-1].replace("┃", "│").split("│")]
            rows.append(cells)
    return rows


def table_value(output: str, key: str) -> str:
    """The value cell of the `key` row in a Rich two-column property table."""
    for cells in table_rows(output):
        if len(cells) >= 2 and cells[0] == key:
            return cells[1]
    raise AssertionError(f"no row {key!r} in the CLI output:\n{output}")


def first_column(output: str) -> list[str]:
    return [cells[0] for cells in table_rows(output) if cells and cells[0]]


_ENUM_REPR = re.compile(r"<\w+\.\w+: ('[^']*')>")
_DATETIME_REPR = re.compile(r"datetime\.datetime\((?:[^()]|\([^()]*\))*\)")


def printed_dicts(stdout: str) -> list[dict]:
    """The CLI prints listings as one Python dict repr per line; enums become their values and
    datetimes their repr text, so the line can be read without evaluating code."""
    dicts = []
    for line in stdout.splitlines():
        if line.startswith("{"):
            literal = _DATETIME_REPR.sub(lambda m: repr(m.group(0)), _ENUM_REPR.sub(r"\1", line))
            dicts.append(ast.literal_eval(literal))
    return dicts


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
