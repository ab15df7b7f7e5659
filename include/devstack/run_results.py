"""What a finished DAG run produced: task states, returned summaries, exported result rows.

Read from the metadata DB of the current process's Airflow configuration (after ``dag.test()``).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any


def task_results(dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
    """``{task_id: {"state": ..., "value": <returned summary>}}`` of one run."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    results: dict[str, dict[str, Any]] = {}
    with create_session() as session:
        tis = session.scalars(
            select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        for ti in tis:
            value = session.scalar(
                select(XComModel.value).where(
                    XComModel.dag_id == ti.dag_id,
                    XComModel.run_id == ti.run_id,
                    XComModel.task_id == ti.task_id,
                    XComModel.key == "return_value",
                )
            )
            if isinstance(value, str | bytes):
                with contextlib.suppress(ValueError):
                    value = json.loads(value)
            results[ti.task_id] = {"state": str(ti.state), "value": value}
    return results


def local_path(uri: str) -> Path:
    """The folder or file behind a ``file://`` URI."""
    if not uri.startswith("file://"):
        raise ValueError(f"not a local file URI: {uri!r}")
    return Path(uri.removeprefix("file://"))


def result_rows(destination: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Result rows of the JSONL files under an exported folder (``_*`` bookkeeping left out)."""
    rows: list[dict[str, Any]] = []
    for path in sorted(destination.rglob("*.jsonl")):
        if any(part.startswith("_") for part in path.relative_to(destination).parts):
            continue
        with open(path) as handle:
            for line in handle:
                if line.strip():
                    rows.append(json.loads(line))
                if limit is not None and len(rows) >= limit:
                    return rows
    return rows


def prediction_boxes(row: Any) -> list[dict[str, Any]]:
    """Every Roboflow-style prediction box (x, y, width, height, confidence) anywhere in a row."""
    found: list[dict[str, Any]] = []
    if isinstance(row, dict):
        if {"x", "y", "width", "height", "confidence"} <= row.keys():
            found.append(row)
        for value in row.values():
            found.extend(prediction_boxes(value))
    elif isinstance(row, list):
        for value in row:
            found.extend(prediction_boxes(value))
    return found
