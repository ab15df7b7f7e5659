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
#: The spend gate's plan, pushed before it decides (also when it fails or waits for a person).
SPEND_PLAN_KEY = "spend_plan"
_PLAN_OF_GATE = f"{task_ids.SPEND_GATE}:{SPEND_PLAN_KEY}"
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
    destination_conn_id: str | None = None
    manifest_uri: str | None = None
    result_rows: int | None = None
    reconciled: bool | None = None
    # Objects of the window without a result after this run (failed at ingest or in processing):
    # what a repair of the window would take.
    unprocessed: int | None = None
    # A repair run's outcome: its number, job, objects processed and still failing.
    repair: dict[str, Any] | None = None
    task_states: dict[str, str] = field(default_factory=dict)
    # The window's results table and where its objects are read from (reconcile's summary).
    table: dict[str, Any] | None = None
    source: dict[str, Any] | None = None
    # From starting the job to the end of its wait (every chunk), as Airflow saw it.
    job_seconds: float | None = None
    # Credits the run's jobs used, when its summaries carry them (the spend figures).
    credits: float | None = None
    # What the run was expected to cost, might cost and did (see ``spend_view``); None: not known.
    spend: dict[str, Any] | None = None

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
    for dag_run_id, task_id, key, raw in session.execute(
        select(XComModel.dag_run_id, XComModel.task_id, XComModel.key, XComModel.value)
        .where(
            XComModel.dag_run_id.in_(by_id),
            XComModel.key.in_(("return_value", SPEND_PLAN_KEY)),
            XComModel.task_id.in_(STEP_TASKS),
        )
        .order_by(XComModel.map_index)
    ):
        slot = task_id if key == "return_value" else f"{task_id}:{key}"
        chunk_values[dag_run_id][slot].append(_value(raw))
    chunk_states: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    job_times: dict[tuple[str, str], JobTimes] = defaultdict(JobTimes)
    keys = [(row.dag_id, row.run_id) for row in rows]
    for dag_id, run_id, task_id, state, started, ended in session.execute(
        select(
            TaskInstance.dag_id,
            TaskInstance.run_id,
            TaskInstance.task_id,
            TaskInstance.state,
            TaskInstance.start_date,
            TaskInstance.end_date,
        ).where(
            tuple_(TaskInstance.dag_id, TaskInstance.run_id).in_(keys),
            TaskInstance.task_id.in_(STEP_TASKS),
        )
    ):
        chunk_states[(dag_id, run_id)][task_id].append(str(state) if state else "none")
        job_times[(dag_id, run_id)].add(task_id, started, ended)
    views = []
    for row in rows:
        returned = {task: combine_chunks(values) for task, values in chunk_values[row.id].items()}
        states = chunk_states[(row.dag_id, row.run_id)]
        view = build_view(row, returned, {task: combine_states(s) for task, s in states.items()})
        if view.job_state == "succeeded":
            view.job_seconds = job_times[(row.dag_id, row.run_id)].seconds()
        views.append(view)
    return views


@dataclass
class JobTimes:
    """When the run's first job started and its last wait ended."""

    started: datetime | None = None
    ended: datetime | None = None

    def add(self, task_id: str, started: datetime | None, ended: datetime | None) -> None:
        if task_id == task_ids.START_JOB and started is not None:
            self.started = started if self.started is None else min(self.started, started)
        if task_id == task_ids.WAIT_FOR_JOB and ended is not None:
            self.ended = ended if self.ended is None else max(self.ended, ended)

    def seconds(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return max(0.0, (self.ended - self.started).total_seconds())


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
        view.destination_conn_id = export.get("destination_conn_id")
        view.result_rows = export.get("result_rows", export.get("rows"))
        view.reconciled = export.get("reconciled")
        view.table = dict(_dict(export.get("table"))) or None
        view.source = dict(_dict(export.get("source"))) or None
        view.credits = spent_credits(export)
    if view.credits is None:  # a run that failed after its jobs ran (a ceiling stop) spent too
        view.credits = spent_credits(_dict(returned.get(task_ids.ACCOUNT_SPEND)))
    view.spend = spend_view(
        _dict(returned.get(_PLAN_OF_GATE)),
        _dict(returned.get(task_ids.ACCOUNT_SPEND)),
        task_states.get(task_ids.SPEND_GATE),
    )
    window = _dict(returned.get(task_ids.RECONCILE))
    if isinstance(window.get("failed"), int) and isinstance(window.get("processing_failed"), int):
        view.unprocessed = window["failed"] + window["processing_failed"]
    view.repair = dict(_dict(window.get("repair")) or _dict(plan.get("repair"))) or None
    return view


def spend_view(
    gate: Mapping[str, Any], account: Mapping[str, Any], gate_state: str | None
) -> dict[str, Any] | None:
    """A run's spending: the gate's decision (its XCom ``spend_plan``) with the estimate and ceilings,
    what the jobs measured, the budgets as they stood (after the accounting when there was one), and
    a dry run's plan."""
    plan = _dict(gate.get("plan"))
    if not plan:
        return None
    estimate = _dict(plan.get("estimate"))
    ceilings = [c for c in gate.get("ceilings") or [] if isinstance(c, int)]
    decision = str(gate.get("decision") or "planned")
    if gate_state == "awaiting_input":
        decision = "waiting for approval"
    view: dict[str, Any] = {
        "decision": decision,
        "objects": plan.get("objects"),
        "estimate_seconds": estimate.get("machine_seconds"),
        "estimate_credits": estimate.get("credits"),
        "basis": estimate.get("model"),
        "ceiling_seconds": sum(ceilings) if ceilings else None,
        "approved_credits": gate.get("approved_credits"),
        "machine_seconds": account.get("machine_seconds"),
        "credits": account.get("credits"),
        "stopped_by_ceiling": bool(account.get("stopped_by_ceiling")),
        "message": plan.get("message"),
        "limits": list(account.get("limits") or plan.get("limits") or []),
    }
    if decision == "dry-run":
        view["dry_run"] = {
            "would_start": gate.get("would_start"),
            "blocked_by": list(gate.get("blocked_by") or []),
            "objects": _dict(gate.get("objects")),
            "checks": list(_dict(gate.get("preflight")).get("checks") or []),
        }
    return view


def spent_credits(summary: Mapping[str, Any]) -> float | None:
    """The credits a summary reports its jobs used (``spend.credits``, else ``credits``), if any."""
    value = _dict(summary.get("spend")).get("credits", summary.get("credits"))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


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
