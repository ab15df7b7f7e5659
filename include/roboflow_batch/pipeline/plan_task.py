"""The first task of every pipeline DAG: fix the window, the ids and the locations of this run."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NotRequired, TypedDict

from include.roboflow_batch.pipeline.run_params import DRY_RUN, REPAIR, WINDOW_PARAMS
from include.roboflow_batch.pipeline.run_window import (
    NothingNewError,
    RunWindow,
    RunWindowError,
    manual_window,
    render_uri,
    resolve_run_window,
    window_key,
)
from include.roboflow_batch.references.window import dag_zone, is_dry_run
from include.roboflow_batch.task_ids import PLAN

#: Key of a manual run's window in the plan task's ``task_state_store``: a retry or a cleared run
#: processes the window it first chose, even after later runs moved the latest processed window.
MANUAL_WINDOW_STATE_KEY = "manual_window"
#: XCom key of the plan task: where the processed windows of the pipeline end after this run. Also
#: pushed when a manual run finds nothing new, so the next manual run starts from there too.
PROCESSED_UNTIL_XCOM_KEY = "processed_until"


class PlanSpec(TypedDict):
    """What ``step_arguments`` hands the plan task (JSON-able: it is part of the serialized DAG)."""

    pipeline_id: str
    dag_id: str
    base_dir: str
    references_uri: str | None
    destination: str
    # Reads the window's manifest when a run repairs it.
    destination_conn_id: NotRequired[str | None]


def _is_manual_without_params(dag_run: Any, params: dict[str, Any]) -> bool:
    run_type = str(getattr(dag_run, "run_type", "") or "").lower()
    return run_type.endswith("manual") and not any(params.get(name) for name in WINDOW_PARAMS)


def latest_processed_end(context: dict[str, Any]) -> datetime | None:
    """End of the window of the latest successful run before this one (None if there is none)."""
    ti, dag_run = context.get("ti"), context.get("dag_run")
    if ti is None or dag_run is None:
        return None
    if getattr(dag_run, "logical_date", None) is not None:
        previous = ti.get_previous_dagrun(state="success")
    else:
        previous = _previous_success_before(dag_run.dag_id, dag_run.run_after)
    if previous is None:
        return None
    until = ti.xcom_pull(task_ids=PLAN, run_id=previous.run_id, key=PROCESSED_UNTIL_XCOM_KEY)
    if isinstance(until, str) and until:
        return datetime.fromisoformat(until)
    plan = ti.xcom_pull(task_ids=PLAN, run_id=previous.run_id)
    if isinstance(plan, dict) and plan.get("dry_run"):
        return None  # a dry run of a pipeline that had processed nothing yet processed nothing either
    if isinstance(plan, dict) and plan.get("window_end"):
        return datetime.fromisoformat(plan["window_end"])
    return previous.data_interval_end


def _previous_success_before(dag_id: str, moment: datetime) -> Any:
    """The run the SDK's ``get_previous_dagrun`` would give a run without a logical date."""
    from airflow.sdk.execution_time.comms import GetPreviousDagRun
    from airflow.sdk.execution_time.task_runner import SUPERVISOR_COMMS

    response = SUPERVISOR_COMMS.send(
        msg=GetPreviousDagRun(dag_id=dag_id, logical_date=moment, state="success")
    )
    return getattr(response, "dag_run", None)


def _manual_run_window(context: dict[str, Any]) -> RunWindow:
    store = context.get("task_state_store")
    stored = store.get(MANUAL_WINDOW_STATE_KEY) if store is not None else None
    if isinstance(stored, dict):
        start = datetime.fromisoformat(stored["start"])
        return RunWindow(start, datetime.fromisoformat(stored["end"]), "interval")
    dag_run = context["dag_run"]
    window = manual_window(
        latest_processed_end(context),
        context.get("data_interval_start"),
        context.get("data_interval_end"),
        dag_run.run_after,
    )
    if store is not None and window.start is not None:
        from airflow.sdk import NEVER_EXPIRE  # type: ignore[attr-defined]  # missing from the stub

        chosen = {"start": window.start.isoformat(), "end": window.end.isoformat()}
        store.set(MANUAL_WINDOW_STATE_KEY, chosen, retention=NEVER_EXPIRE)
    return window


def _push_processed_until(context: dict[str, Any], moment: datetime) -> None:
    ti = context.get("ti")
    if ti is not None:
        ti.xcom_push(key=PROCESSED_UNTIL_XCOM_KEY, value=moment.isoformat())


def plan_run(spec: PlanSpec, **context: Any) -> dict[str, Any]:
    """Window, batch id, job id, references file and export folder of this run (returned as XCom).

    Scheduled and backfill runs take their data interval; a manual run takes the window params if
    given, else what is new since the latest successfully processed window (``manual_window``).
    No URL and no secret in here: only names derived from the pipeline and the window.
    """
    from pathlib import Path

    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from include.roboflow_batch.api.ids import derive_batch_id, derive_job_id

    dag_run = context.get("dag_run")
    params = dict(context.get("params") or {})
    dry_run = is_dry_run(params.get(DRY_RUN))
    repair = bool(params.get(REPAIR))
    try:
        if repair and _is_manual_without_params(dag_run, params):
            raise RunWindowError(
                "a repair re-processes a window that was already exported: give it params window_start "
                "and window_end (ISO 8601), or repair a run that has a data interval"
            )
        if _is_manual_without_params(dag_run, params):
            window = _manual_run_window(context)
        else:
            window = resolve_run_window(
                context.get("data_interval_start"),
                context.get("data_interval_end"),
                params,
                getattr(dag_run, "run_after", None),
                dag_zone(context),
            )
    except NothingNewError as exc:
        _push_processed_until(context, exc.processed_until)
        raise AirflowSkipException(str(exc)) from None
    except RunWindowError as exc:
        raise AirflowFailException(str(exc)) from None
    start_key, end_key = window_key(window)
    pipeline_id = spec["pipeline_id"]
    base_dir = Path(spec["base_dir"])

    def render(template: str) -> str:
        return render_uri(
            template, pipeline_id=pipeline_id, dag_id=spec["dag_id"], window=window, base_dir=base_dir
        )

    planned = {
        "pipeline_id": pipeline_id,
        "window_start": window.start.isoformat() if window.start else None,
        "window_end": window.end.isoformat(),
        "select": window.select,
        "batch_id": derive_batch_id(pipeline_id, start_key, end_key),
        # The interval's job family: attempts for a changed workflow derive from it (jobs.recovery).
        "job_id": derive_job_id(pipeline_id, start_key, end_key),
        "references_uri": render(spec["references_uri"]) if spec["references_uri"] else None,
        "destination": render(spec["destination"]),
        "dry_run": dry_run,
        # A repair's: the window's export folder whose manifest says what to take again.
        "repair_of": None,
        "repair": None,
    }
    if dry_run or repair:
        # A dry run or a repair processes no new time: the processed windows end where they ended.
        earlier = latest_processed_end(context)
        if earlier is not None:
            _push_processed_until(context, earlier)
    else:
        _push_processed_until(context, window.end)
    return repair_plan(planned, spec.get("destination_conn_id")) if repair else planned


def repair_plan(planned: dict[str, Any], destination_conn_id: str | None) -> dict[str, Any]:
    """The plan of a repair of the window ``planned`` names: its child batch, job and folder, its own
    references file, and every object taken (no window: the manifest says which)."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from include.roboflow_batch.repair.selection import (
        RepairRefused,
        plan_repair,
        repair_references_uri,
        window_manifest,
    )

    window = planned["destination"]
    try:
        manifest = window_manifest(window, destination_conn_id)
    except RepairRefused as exc:
        raise AirflowFailException(f"repair: {exc}") from None
    repair = plan_repair(manifest, planned["batch_id"], planned["job_id"])
    if not repair.objects:
        objects = manifest.get("objects") or {}
        raise AirflowSkipException(
            f"nothing to repair: the manifest of window {window} lists no object that failed or has no "
            f"result ({objects.get('processed', 0)} processed, {objects.get('skipped', 0)} skipped while "
            "listing, which a repair would skip again)"
        )
    return {
        **planned,
        "batch_id": repair.batch_id,
        "job_id": repair.job_id,
        "destination": f"{window.rstrip('/')}/{repair.folder}/",
        "references_uri": repair_references_uri(planned["references_uri"], repair.number),
        "select": "all",
        "repair_of": window,
        "repair": repair.to_dict(window),
    }
