"""The first task of every pipeline DAG: fix the window, the ids and the locations of this run."""

from __future__ import annotations

from typing import Any, TypedDict

from include.roboflow_batch.pipeline.run_window import (
    RunWindowError,
    render_uri,
    resolve_window,
    window_key,
)


class PlanSpec(TypedDict):
    """What the factory hands the plan task (JSON-able: it is part of the serialized DAG)."""

    pipeline_id: str
    dag_id: str
    base_dir: str
    references_uri: str | None
    destination: str


def plan_run(spec: PlanSpec, **context: Any) -> dict[str, Any]:
    """Window, batch id, job id, references file and export folder of this run (returned as XCom).

    No URL and no secret in here: only names derived from the pipeline and the window.
    """
    from pathlib import Path

    from airflow.sdk.exceptions import AirflowFailException

    from include.roboflow_batch.api.ids import derive_batch_id, derive_job_id

    dag_run = context.get("dag_run")
    try:
        window = resolve_window(
            context.get("data_interval_start"),
            context.get("data_interval_end"),
            dict(context.get("params") or {}),
            getattr(dag_run, "run_after", None),
        )
    except RunWindowError as exc:
        raise AirflowFailException(str(exc)) from None
    start_key, end_key = window_key(window)
    pipeline_id = spec["pipeline_id"]
    base_dir = Path(spec["base_dir"])

    def render(template: str) -> str:
        return render_uri(
            template, pipeline_id=pipeline_id, dag_id=spec["dag_id"], window=window, base_dir=base_dir
        )

    return {
        "pipeline_id": pipeline_id,
        "window_start": window.start.isoformat() if window.start else None,
        "window_end": window.end.isoformat(),
        "select": window.select,
        "batch_id": derive_batch_id(pipeline_id, start_key, end_key),
        # The interval's job family: attempts for a changed workflow derive from it (jobs.recovery).
        "job_id": derive_job_id(pipeline_id, start_key, end_key),
        "references_uri": render(spec["references_uri"]) if spec["references_uri"] else None,
        "destination": render(spec["destination"]),
    }
