"""docs/results-table.md lists every column of both tables, in order, with its type."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from include.roboflow_batch.results_table import schema

DOC = Path(__file__).resolve().parents[3] / "docs" / "results-table.md"


def doc_type(data_type: pa.DataType) -> str:
    if pa.types.is_timestamp(data_type):
        return f"timestamp (µs, {data_type.tz})"
    if pa.types.is_list(data_type):
        return f"list<{doc_type(data_type.value_type)}>"
    if pa.types.is_struct(data_type):
        fields = ", ".join(f"{f.name}: {doc_type(f.type)}" for f in data_type)
        return f"struct<{fields}>"
    return {pa.string(): "string", pa.int64(): "int64", pa.float64(): "float64"}[data_type]


def documented(section: str) -> list[tuple[str, str]]:
    text = DOC.read_text()
    body = text.split(f"## `{section}`", 1)[1].split("\n## ", 1)[0]
    return [(name, kind.strip()) for name, kind in re.findall(r"^\| `(\w+)` \| ([^|]+) \|", body, re.M)]


@pytest.mark.parametrize(
    ("section", "table"), [("predictions", schema.PREDICTIONS), ("failures", schema.FAILURES)]
)
def test_every_column_is_documented_with_its_type(section: str, table: pa.Schema) -> None:
    expected = [
        (field.name, doc_type(field.type) + ("" if field.nullable else ", not null")) for field in table
    ]

    assert documented(section) == expected


def test_partition_keys_are_not_columns() -> None:
    for table in (schema.PREDICTIONS, schema.FAILURES):
        assert not set(schema.PARTITION_KEYS) & set(table.names)
