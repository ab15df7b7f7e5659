"""The Roboflow view's FastAPI app, mounted by the plugin at ``/roboflow-ui`` on the API server.

Every route requires Airflow's own login (the UI's JWT cookie reaches the iframe, same origin) and
shows only the DAGs the user may read, per the configured auth manager.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, FastAPI, HTTPException, Query, status
from fastapi.responses import HTMLResponse, Response

from include.roboflow_batch.webui import pages
from include.roboflow_batch.webui.live import add_live_progress
from include.roboflow_batch.webui.runs import RunView, one_run, pipeline_dag_ids, recent_runs

URL_PREFIX = "/roboflow-ui"
MAX_RUNS_PER_PIPELINE = 50
MAX_MANIFEST_BYTES = 32 * 1024 * 1024
ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
    'stroke-width="2"><rect x="3" y="3" width="18" height="18" rx="3"/><circle cx="12" cy="12" r="4"/></svg>'
)


# Airflow's own authentication: the UI's JWT cookie (or a Bearer token); 401 without one.
User = Annotated[Any, Depends(get_user)]
RunsPerPipeline = Annotated[int, Query(ge=1, le=MAX_RUNS_PER_PIPELINE)]


def readable_dag_ids(user: Any) -> set[str]:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_authorized_dag_ids(user=user, method="GET")


def _notifications(limit: int) -> list[dict[str, Any]]:
    from airflow.utils.session import create_session

    from include.roboflow_batch.notifications.store import recent

    with create_session() as session:
        return recent(session, limit)


def overview_data(user: Any, per_pipeline: int, live: bool) -> dict[str, Any]:
    from airflow.utils.session import create_session

    with create_session() as session:
        dag_ids = pipeline_dag_ids(session, readable_dag_ids(user))
        pipelines = recent_runs(session, dag_ids, per_pipeline)
    if live:
        add_live_progress(run for runs in pipelines.values() for run in runs)
    return {"pipelines": pipelines, "notifications": _notifications(50)}


def run_data(user: Any, dag_id: str, run_id: str) -> RunView:
    from airflow.utils.session import create_session

    if dag_id not in readable_dag_ids(user):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such Roboflow pipeline run")
    with create_session() as session:
        run = one_run(session, dag_id, run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such Roboflow pipeline run")
    add_live_progress([run])
    return run


def run_notifications(run: RunView) -> list[dict[str, Any]]:
    return [
        n
        for n in _notifications(500)
        if (run.batch_id and n.get("batch_id") == run.batch_id)
        or (run.job_id and n.get("job_id") == run.job_id)
    ]


def read_manifest(run: RunView) -> dict[str, Any]:
    """The run's manifest, from the URI its export task returned (never a URI from the request)."""
    from airflow.sdk import ObjectStoragePath

    if not run.manifest_uri:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this run has no manifest (yet)")
    path = ObjectStoragePath(run.manifest_uri)
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "manifest too large to show")
        return json.loads(path.read_text())
    except (OSError, ValueError):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the manifest cannot be read") from None


def create_view_app() -> FastAPI:
    app = FastAPI(title="Roboflow view", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/icon.svg", include_in_schema=False)
    def icon() -> Response:
        return Response(ICON_SVG, media_type="image/svg+xml")

    @app.get("/", response_class=HTMLResponse)
    def overview(user: User, runs: RunsPerPipeline = 10) -> str:
        started = time.perf_counter()
        data = overview_data(user, runs, live=True)
        elapsed = (time.perf_counter() - started) * 1000
        return pages.overview_page(URL_PREFIX, data["pipelines"], data["notifications"], elapsed)

    @app.get("/api/pipelines")
    def overview_json(user: User, runs: RunsPerPipeline = 10, live: bool = True) -> dict[str, Any]:
        data = overview_data(user, runs, live=live)
        return {
            "pipelines": {d: [r.to_dict() for r in rs] for d, rs in data["pipelines"].items()},
            "notifications": data["notifications"],
        }

    @app.get("/runs/{dag_id}/{run_id}", response_class=HTMLResponse)
    def run_tab(user: User, dag_id: str, run_id: str) -> str:
        run = run_data(user, dag_id, run_id)
        return pages.run_page(URL_PREFIX, run, run_notifications(run))

    @app.get("/api/runs/{dag_id}/{run_id}")
    def run_json(user: User, dag_id: str, run_id: str) -> dict[str, Any]:
        run = run_data(user, dag_id, run_id)
        return {**run.to_dict(), "notifications": run_notifications(run)}

    @app.get("/manifest", response_class=HTMLResponse)
    def manifest(user: User, dag_id: str, run_id: str) -> str:
        run = run_data(user, dag_id, run_id)
        data = read_manifest(run)
        rows = [
            ("Job", data.get("job_id")),
            ("Destination", data.get("destination")),
            ("Inputs expected", (data.get("inputs") or {}).get("expected")),
            ("Ingested", (data.get("ingested") or {}).get("count")),
            ("Failed to ingest", (data.get("failed") or {}).get("count")),
            ("Failed in processing", (data.get("processing_failed") or {}).get("count")),
            ("Skipped while listing", (data.get("skipped") or {}).get("count")),
            ("Result rows", (data.get("results") or {}).get("rows")),
            ("Reconciled", data.get("reconciled")),
            *((f"check: {k}", v) for k, v in sorted((data.get("checks") or {}).items())),
        ]
        return pages.document_page("Manifest", rows, run.manifest_uri or "")

    @app.get("/results", response_class=HTMLResponse)
    def results(user: User, dag_id: str, run_id: str) -> str:
        run = run_data(user, dag_id, run_id)
        data = read_manifest(run)
        rows = [(f.get("path", "?"), f"{f.get('size', '?')} bytes") for f in data.get("files") or []]
        return pages.document_page("Result files", rows, run.destination or "")

    return app
