"""The OpenLineage events of a run on the real stack, as the file transport wrote them."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from include.roboflow_batch.webui.runs import STEP_TASKS

# Tasks that know a batch or a job, and so carry the roboflow facet on COMPLETE: all but the listings
# and the checks that run before anything is staged (their facet holds only their counts).
BEFORE_STAGING = ("list_new_objects", "list_local_files", "preflight", "spend_gate")
FACET_TASKS = [task for task in STEP_TASKS if task not in BEFORE_STAGING]


def task_events(path: Path, dag_id: str, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """``{task_id: [events]}`` of one DAG run (task events name their DAG run in the parent facet)."""
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        event = json.loads(line)
        name = event.get("job", {}).get("name", "")
        facets = event.get("run", {}).get("facets", {})
        airflow_run = (facets.get("airflow") or {}).get("dagRun") or {}
        if name.startswith(f"{dag_id}.") and airflow_run.get("run_id") == run_id:
            events[name.split(".", 1)[1]].append(event)
    return events


def datasets(event: dict[str, Any], side: str) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in event.get(side, [])]


def check_lineage(
    path: Path,
    dag_id: str,
    run_id: str,
    task_ids: list[str],
    source: tuple[str, str],
    destination: str,
    table_root: str,
) -> None:
    """Every task START and COMPLETE; final dataset names only; the roboflow facet where promised."""
    events = task_events(path, dag_id, run_id)
    for task_id in task_ids:
        kinds = {event["eventType"] for event in events.get(task_id, [])}
        assert {"START", "COMPLETE"} <= kinds, (task_id, kinds)
    for task_id, task_events_ in events.items():
        for event in task_events_:
            for namespace, name in datasets(event, "inputs") + datasets(event, "outputs"):
                leaf = name.rstrip("/").rsplit("/", 1)[-1]
                assert not leaf.startswith(".") and not name.endswith(".partial") and ".part" not in leaf, (
                    task_id,
                    namespace,
                    name,
                )
    complete = {
        task_id: next(e for e in evs if e["eventType"] == "COMPLETE") for task_id, evs in events.items()
    }
    for task_id in FACET_TASKS:
        facet = complete[task_id]["run"]["facets"].get("roboflow")
        assert facet and any(facet.get(key) for key in ("batchId", "jobId", "batchIds", "jobIds")), (
            task_id,
            facet,
        )
    assert datasets(complete["list_new_objects"], "inputs") == [source]
    [references] = datasets(complete["list_new_objects"], "outputs")
    assert datasets(complete["ingest"], "inputs") == [references]
    assert datasets(complete["export"], "outputs") == [
        ("file", destination.removeprefix("file://").rstrip("/"))
    ]
    root = table_root.removeprefix("file://").rstrip("/")
    assert datasets(complete["reconcile"], "outputs") == [
        ("file", f"{root}/predictions"),
        ("file", f"{root}/failures"),
    ]
    counts = complete["reconcile"]["run"]["facets"]["roboflow"]["counts"]
    assert counts["table_rows"] >= counts["result_rows"] > 0
