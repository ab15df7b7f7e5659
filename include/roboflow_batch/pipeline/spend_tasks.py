"""The ``account_spend`` task: once the jobs ended, what they measured replaces what they reserved.

It runs whatever happened to the jobs (trigger rule ``all_done``): a job that failed spent too, and
a job that was never created gives its reservation back. A job still running keeps its reservation
(its spending is not over). The return value has each job's estimate, ceiling and measured
machine time and credits (in chunk order), the run's totals and the budgets as they now stand.
"""

from __future__ import annotations

import logging
from typing import Any

from include.roboflow_batch import task_ids

ACCOUNT_TRIGGER_RULE = "all_done"
#: Gate decisions after which jobs may have spent (anything else reserved nothing).
SPENDING_DECISIONS = ("within-budget", "approved")


def gate_decision(ti: Any) -> dict[str, Any] | None:
    """The spend gate's decision (its XCom ``spend_plan``), or None when the gate did not run.

    Pulled rather than passed as an argument: an XCom of another key than the return value must
    exist for an argument to resolve, and a run whose listing found nothing skips the gate.
    """
    from include.roboflow_batch.operators.spend_gate import SPEND_PLAN_XCOM_KEY

    value = ti.xcom_pull(task_ids=task_ids.SPEND_GATE, key=SPEND_PLAN_XCOM_KEY) if ti is not None else None
    return value if isinstance(value, dict) else None


def account_spend(
    policy: dict[str, Any], chunks: list[dict[str, Any]] | None, roboflow_conn_id: str, **context: Any
) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowSkipException

    from include.roboflow_batch.api.errors import NotFoundError
    from include.roboflow_batch.hooks.errors import roboflow_errors
    from include.roboflow_batch.hooks.roboflow import RoboflowHook
    from include.roboflow_batch.jobs.machine_time import JobSpend, fetch_job_spend
    from include.roboflow_batch.spend.policy import SpendPolicy
    from include.roboflow_batch.spend.steps import account, period_status

    gate = gate_decision(context.get("ti"))
    if not gate or gate.get("decision") not in SPENDING_DECISIONS or not chunks:
        raise AirflowSkipException("no job of this run was allowed to spend: nothing to account for")
    log = logging.getLogger("airflow.task")
    spend = SpendPolicy.from_dict(policy)
    ledger = spend.ledger()
    client = RoboflowHook(roboflow_conn_id=roboflow_conn_id).get_client()
    ti = context["ti"]
    run_id = str(context.get("run_id") or "")
    estimates = {c["index"]: c for c in (gate.get("plan") or {}).get("chunks", [])}
    jobs: list[dict[str, Any]] = []
    for chunk in chunks:
        index = int(chunk["index"])
        started = ti.xcom_pull(task_ids=task_ids.START_JOB, map_indexes=index)
        job_id = str((started or {}).get("job_id") or chunk["job_id"])
        job_spend: JobSpend | None
        with roboflow_errors(f"reading Roboflow job {job_id}", roboflow_conn_id):
            try:
                job_spend = fetch_job_spend(client, job_id)
            except NotFoundError:
                job_spend = None
        if job_spend is not None and not job_spend.job.is_terminal:
            log.warning(
                "Job %s is still running: its reservation stays until a later run accounts for it.", job_id
            )
            jobs.append({"index": index, "job_id": job_id, "note": "still running", "credits": None})
            continue
        result = account(spend, ledger, job_id, job_spend, objects=int(chunk["count"]), run_id=run_id)
        entry = {
            "index": index,
            **result.to_dict(),
            "estimate_seconds": estimates.get(index, {}).get("estimate_seconds"),
        }
        log.info(
            "Job %s: estimate %s machine-s, ceiling %s, measured %.1f machine-s = %.4g credits%s (%s).",
            job_id,
            entry["estimate_seconds"],
            result.ceiling_seconds if result.ceiling_seconds is not None else "none",
            result.machine_seconds,
            result.credits,
            "; stopped by its ceiling" if result.stopped_by_ceiling else "",
            result.note,
        )
        jobs.append(entry)
    measured = [job for job in jobs if job.get("credits") is not None]
    plan = gate.get("plan") or {}
    ceilings = list(gate.get("ceilings") or [])
    return {
        "jobs": jobs,
        "estimate_seconds": (plan.get("estimate") or {}).get("machine_seconds"),
        "estimate_credits": (plan.get("estimate") or {}).get("credits"),
        "ceiling_seconds": sum(ceilings) if ceilings and None not in ceilings else None,
        "machine_seconds": round(sum(job["machine_seconds"] for job in measured), 3),
        "credits": round(sum(job["credits"] for job in measured), 6),
        "stopped_by_ceiling": any(job.get("stopped_by_ceiling") for job in measured),
        "limits": [limit.to_dict() for limit in period_status(spend, ledger)],
    }
