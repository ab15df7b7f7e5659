"""What the Roboflow view shows about pipeline runs, read from the metadata DB in three queries.

Everything comes from what the tasks already return (their ``return_value`` XComs) and the task
states: no log parsing. With 50 pipelines and 1,000 runs the overview stays three indexed queries
(runs per pipeline with a window function, their XComs, their task states), whatever the history.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from airflow.models.dag import DagTag
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from include.roboflow_batch import task_ids

PIPELINE_TAG = "roboflow"
STEP_TASKS = task_ids.PIPELINE_TASKS
# Counts a window's chunks (mapped ingest, wait, job and export) add up to.
SUMMED_COUNTS = ("expected_count", "staged", "failed_count", "result_rows", "files_written")
WAITING_STATES = {"deferred", "running", "up_for_reschedule", "queued", "scheduled"}


@dataclass
class RunView:
    """One pipeline run as a user reads it."""

    dag_id: str
    run_id: str
    state: str
    run_after: str | None
    window_start: str | None = None
    window_end: str | None = None
    batch_id: str | None = None
    found: int | None = None
    skipped: int | None = None
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    staged: int | None = None
    failed: int | None = None
    failed_by_type: dict[str, int] = field(default_factory=dict)
    job_id: str | None = None
    job_url: str | None = None
    job_state: str = "not started"
    progress: dict[str, Any] | None = None
    destination: str | None = None
    manifest_uri: str | None = None
    result_rows: int | None = None
    reconciled: bool | None = None
    # Objects of the window without a result after this run (failed at ingest or in processing):
    # what a repair of the window would take.
    unprocessed: int | None = None
    # A repair run's outcome: its number, job, objects processed and still failing.
    repair: dict[str, Any] | None = None
    task_states: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _value(raw: Any) -> Any:
    try:
        return XComModel.deserialize_value(_Row(raw))
    except Exception:  # a value this view cannot read is shown as missing, never as an error page
        return None


@dataclass
class _Row:
    value: Any


def pipeline_dag_ids(session: Session, readable: set[str] | None = None) -> list[str]:
    """DAGs tagged ``roboflow`` (every pipeline DAG is), limited to those the user may read."""
    dag_ids = session.scalars(
        select(DagTag.dag_id).where(DagTag.name == PIPELINE_TAG).order_by(DagTag.dag_id)
    )
    return [d for d in dag_ids if readable is None or d in readable]


def recent_runs(session: Session, dag_ids: Iterable[str], per_pipeline: int = 10) -> dict[str, list[RunView]]:
    """The newest ``per_pipeline`` runs of each DAG, newest first."""
    dag_ids = list(dag_ids)
    if not dag_ids:
        return {}
    rank = (
        func.row_number()
        .over(partition_by=DagRun.dag_id, order_by=(DagRun.run_after.desc(), DagRun.id.desc()))
        .label("rank")
    )
    ranked = (
        select(DagRun.id, DagRun.dag_id, DagRun.run_id, DagRun.state, DagRun.run_after, rank)
        .where(DagRun.dag_id.in_(dag_ids))
        .subquery()
    )
    rows = session.execute(
        select(ranked.c.id, ranked.c.dag_id, ranked.c.run_id, ranked.c.state, ranked.c.run_after)
        .where(ranked.c.rank <= per_pipeline)
        .order_by(ranked.c.dag_id, ranked.c.rank)
    ).all()
    views = _views(session, rows)
    grouped: dict[str, list[RunView]] = {dag_id: [] for dag_id in dag_ids}
    for view in views:
        grouped[view.dag_id].append(view)
    return grouped


def one_run(session: Session, dag_id: str, run_id: str) -> RunView | None:
    rows = session.execute(
        select(DagRun.id, DagRun.dag_id, DagRun.run_id, DagRun.state, DagRun.run_after).where(
            DagRun.dag_id == dag_id, DagRun.run_id == run_id
        )
    ).all()
    views = _views(session, rows)
    return views[0] if views else None


def _views(session: Session, rows: Sequence[Any]) -> list[RunView]:
    if not rows:
        return []
    by_id = {row.id: row for row in rows}
    # A window over several batches maps its steps over chunks: one value and state per map index.
    chunk_values: dict[int, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for dag_run_id, task_id, raw in session.execute(
        select(XComModel.dag_run_id, XComModel.task_id, XComModel.value)
        .where(
            XComModel.dag_run_id.in_(by_id),
            XComModel.key == "return_value",
            XComModel.task_id.in_(STEP_TASKS),
        )
        .order_by(XComModel.map_index)
    ):
        chunk_values[dag_run_id][task_id].append(_value(raw))
    chunk_states: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    keys = [(row.dag_id, row.run_id) for row in rows]
    for dag_id, run_id, task_id, state in session.execute(
        select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.state).where(
            tuple_(TaskInstance.dag_id, TaskInstance.run_id).in_(keys),
            TaskInstance.task_id.in_(STEP_TASKS),
        )
    ):
        chunk_states[(dag_id, run_id)][task_id].append(str(state) if state else "none")
    views = []
    for row in rows:
        returned = {task: combine_chunks(values) for task, values in chunk_values[row.id].items()}
        states = chunk_states[(row.dag_id, row.run_id)]
        views.append(build_view(row, returned, {task: combine_states(s) for task, s in states.items()}))
    return views


def combine_chunks(values: list[Any]) -> Any:
    """A step's return values, one per chunk, as one summary: counts add up, ids are the first chunk's."""
    summaries = [value for value in values if isinstance(value, Mapping)]
    if len(values) == 1 or not summaries:
        return values[0] if values else None
    merged = dict(summaries[0])
    for key in SUMMED_COUNTS:
        counts = [summary.get(key) for summary in summaries]
        if all(isinstance(count, int) for count in counts):
            merged[key] = sum(counts)
    by_type: Counter[str] = Counter()
    for summary in summaries:
        by_type.update(summary.get("failed_by_type") or {})
    if by_type:
        merged["failed_by_type"] = dict(by_type)
    if any("succeeded" in summary for summary in summaries):
        merged["succeeded"] = all(summary.get("succeeded", True) for summary in summaries)
    return merged


def combine_states(states: list[str]) -> str:
    """One state for a step run once per chunk: a failure wins, then any wait, else the common state."""
    if len(set(states)) == 1:
        return states[0]
    for state in ("failed", "upstream_failed", *sorted(WAITING_STATES)):
        if state in states:
            return state
    return "success" if set(states) <= {"success", "skipped"} else states[0]


def _dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def build_view(row: Any, returned: Mapping[str, Any], task_states: Mapping[str, str]) -> RunView:
    """One run's view from its tasks' return values and states (pure: no DB)."""
    plan, listing, ingest = (
        _dict(returned.get(task_ids.PLAN)),
        # A bucket's listing or a local directory's: both count what they found and skipped.
        _dict(returned.get(task_ids.LIST_NEW_OBJECTS)) or _dict(returned.get(task_ids.LIST_LOCAL_FILES)),
        _dict(returned.get(task_ids.INGEST)),
    )
    ready, start, export = (
        _dict(returned.get(task_ids.WAIT_FOR_BATCH)),
        _dict(returned.get(task_ids.START_JOB)),
        # The window's manifest (``reconcile``) when the run has one, else the single export's summary.
        _dict(returned.get(task_ids.RECONCILE)) or _dict(returned.get(task_ids.EXPORT)),
    )
    view = RunView(
        dag_id=row.dag_id,
        run_id=row.run_id,
        state=str(row.state) if row.state else "none",
        run_after=_iso(row.run_after),
        window_start=plan.get("window_start"),
        window_end=plan.get("window_end"),
        batch_id=plan.get("batch_id") or ingest.get("batch_id"),
        task_states=dict(task_states),
    )
    if listing:
        view.skipped = int(listing.get("skipped_count") or 0)
        view.skipped_by_reason = dict(listing.get("skipped") or {})
        view.found = int(listing.get("count") or 0) + view.skipped
    elif ingest:
        view.found = ingest.get("expected_count")
    if ready:
        view.staged, view.failed = ready.get("staged"), ready.get("failed_count")
        view.failed_by_type = dict(ready.get("failed_by_type") or {})
    view.job_id, view.job_url = start.get("job_id"), start.get("job_url")
    view.job_state = job_state(task_states, _dict(returned.get(task_ids.WAIT_FOR_JOB)))
    if export:
        view.destination, view.manifest_uri = export.get("destination"), export.get("manifest_uri")
        view.result_rows = export.get("result_rows", export.get("rows"))
        view.reconciled = export.get("reconciled")
    window = _dict(returned.get(task_ids.RECONCILE))
    if isinstance(window.get("failed"), int) and isinstance(window.get("processing_failed"), int):
        view.unprocessed = window["failed"] + window["processing_failed"]
    view.repair = dict(_dict(window.get("repair")) or _dict(plan.get("repair"))) or None
    return view


def job_state(task_states: Mapping[str, str], waited: Mapping[str, Any]) -> str:
    """The job's state as far as Airflow knows it (live stage/progress come from Roboflow)."""
    start, wait = task_states.get(task_ids.START_JOB), task_states.get(task_ids.WAIT_FOR_JOB)
    if start == "skipped":
        # A window whose objects were all skipped still ends with a manifest (reconcile), but no job.
        return (
            "none: nothing to process"
            if task_states.get(task_ids.RECONCILE) == "success"
            else "skipped: nothing new"
        )
    if start != "success":
        return "failed to start" if start == "failed" else "not started"
    if wait == "success":
        return "succeeded" if waited.get("succeeded", True) else "failed"
    if wait == "failed":
        return "failed"
    if wait in WAITING_STATES:
        return "running"
    return "started"
