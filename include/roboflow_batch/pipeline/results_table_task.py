"""The window's results table, written by ``reconcile`` once the window's manifest reconciles.

``step_arguments`` fixes a ``TableSpec`` per pipeline (where the table lives, how to read it and where
the window's objects come from); ``reconcile`` hands it the window's exports and their manifests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict


class TableSpec(TypedDict):
    """What ``reconcile`` needs to write a window's table (JSON-able: part of the serialized DAG)."""

    pipeline_id: str
    root: str
    conn_id: str | None
    # A local directory's files are sent under their own names; bucket keys are encoded.
    names_are_keys: bool
    # Where the window's objects are read from: the Roboflow view shows them from there.
    source: dict[str, Any]


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def write_results_table(
    table: TableSpec,
    plan: Mapping[str, Any],
    exports: Sequence[tuple[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]]],
    skipped_files: Sequence[Mapping[str, Any]],
    destination_conn_id: str | None,
) -> dict[str, Any]:
    """Write the window's table; ``exports``: ``(chunk spec, export summary, its manifest)`` per chunk.

    Returns what was written (``WrittenTable.to_dict()``) plus ``table_uri``, the predictions
    table's root (one path for every window of every pipeline), and the table's ``conn_id``.
    """
    from include.roboflow_batch.results_table.location import PREDICTIONS_TABLE
    from include.roboflow_batch.results_table.writer import (
        ChunkOutput,
        TableTarget,
        TableWindow,
        write_window_table,
    )

    end = _time(plan["window_end"])
    if end is None:
        raise ValueError("the plan names no window end")
    written = write_window_table(
        TableTarget(table["root"], table["conn_id"], names_are_keys=table["names_are_keys"]),
        TableWindow(table["pipeline_id"], _time(plan.get("window_start")), end),
        [
            ChunkOutput(
                destination=summary["destination"],
                conn_id=destination_conn_id,
                batch_id=spec.get("batch_id"),
                job_id=spec.get("job_id"),
                manifest=manifest,
            )
            for spec, summary, manifest in exports
        ],
        skipped_files,
    )
    table_uri = f"{written.root}{PREDICTIONS_TABLE}/"
    return {**written.to_dict(), "table_uri": table_uri, "conn_id": table["conn_id"]}
