"""The Roboflow view's FastAPI app, mounted by the plugin at ``/roboflow-ui`` on the API server.

Every route requires Airflow's own login (the UI's JWT cookie reaches the iframe, same origin) and
shows only the DAGs the user may read, per the configured auth manager. A run's gallery and images
come from that run's own results table and manifest, located by what its tasks returned; the media
route's further checks are in ``media``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from include.roboflow_batch.webui import gallery_page, pages
from include.roboflow_batch.webui.documents import DocumentError, document_signature, read_document
from include.roboflow_batch.webui.gallery import (
    GALLERY_SIZE,
    MAX_GALLERY_SIZE,
    Gallery,
    GalleryItem,
    build_gallery,
    item_records,
    read_raw_rows,
    read_window_tables,
    run_seed,
)
from include.roboflow_batch.webui.live import add_live_progress
from include.roboflow_batch.webui.media import (
    SECURITY_HEADERS,
    ManifestKeys,
    MediaRefused,
    manifest_keys,
    max_media_bytes,
    open_media,
)
from include.roboflow_batch.webui.runs import RunView, one_run, pipeline_dag_ids, recent_runs

URL_PREFIX = "/roboflow-ui"
#: The route of the run tab in the Airflow UI (``/dags/<dag>/runs/<run>/plugin/<route>``).
RUN_TAB_ROUTE = "roboflow-run"
MAX_RUNS_PER_PIPELINE = 50
MAX_KEY_LENGTH = 1024
ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
    'stroke-width="2"><rect x="3" y="3" width="18" height="18" rx="3"/><circle cx="12" cy="12" r="4"/></svg>'
)


# Airflow's own authentication: the UI's JWT cookie (or a Bearer token); 401 without one.
User = Annotated[Any, Depends(get_user)]
RunsPerPipeline = Annotated[int, Query(ge=1, le=MAX_RUNS_PER_PIPELINE)]
GallerySize = Annotated[int, Query(ge=1, le=MAX_GALLERY_SIZE)]
ObjectKey = Annotated[str, Query(min_length=1, max_length=MAX_KEY_LENGTH)]
# Objects each recent run's manifest lists, kept while the manifest is unchanged.
MANIFEST_KEYS = ManifestKeys()


def readable_dag_ids(user: Any) -> set[str]:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_authorized_dag_ids(user=user, method="GET")


def may_trigger(user: Any, dag_id: str) -> bool:
    """Whether ``user`` may create runs of ``dag_id`` (what the UI's Trigger button needs)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    return get_auth_manager().is_authorized_dag(
        method="POST", access_entity=DagAccessEntity.RUN, details=DagDetails(id=dag_id), user=user
    )


def trigger_repair(user: Any, run: RunView) -> str:
    """Trigger a repair run of ``run``'s window; returns the new run's id."""
    from datetime import UTC, datetime

    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.utils.types import DagRunTriggeredByType

    from include.roboflow_batch.pipeline.run_params import REPAIR, WINDOW_END, WINDOW_START

    run_id = f"repair__{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}"
    trigger_dag(
        run.dag_id,
        run_id=run_id,
        conf={REPAIR: True, WINDOW_START: run.window_start, WINDOW_END: run.window_end},
        triggered_by=DagRunTriggeredByType.UI,
        triggering_user_name=user.get_name(),
    )
    return run_id


def same_origin(request: Request) -> bool:
    """A browser's form post from this server's own pages (no Origin header: not a browser's post)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    # Behind a proxy the public host is the forwarded one.
    hosts = {request.headers.get("host"), *request.headers.get("x-forwarded-host", "").split(",")}
    return urlsplit(origin).netloc in {host.strip() for host in hosts if host}


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


def run_data(user: Any, dag_id: str, run_id: str, live: bool = True) -> RunView:
    from airflow.utils.session import create_session

    if dag_id not in readable_dag_ids(user):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such Roboflow pipeline run")
    with create_session() as session:
        run = one_run(session, dag_id, run_id)
    if run is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such Roboflow pipeline run")
    if live:
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
    if not run.manifest_uri:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this run has no manifest (yet)")
    try:
        return read_document(run.manifest_uri, run.destination_conn_id)
    except DocumentError as exc:
        raise HTTPException(exc.status, str(exc)) from None


def allowed_keys(run: RunView) -> frozenset[str]:
    """The objects the run's manifest lists (processed or failed): the only ones it may show."""
    uri, conn_id = run.manifest_uri, run.destination_conn_id
    if not uri:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this run has no manifest (yet)")
    names_are_keys = (run.source or {}).get("kind") == "local"

    def load() -> frozenset[str]:
        return manifest_keys(uri, lambda u: read_document(u, conn_id), names_are_keys)

    try:
        return MANIFEST_KEYS.get(uri, document_signature(uri, conn_id), load)
    except DocumentError as exc:
        raise HTTPException(exc.status, str(exc)) from None


def run_gallery(run: RunView, size: int) -> Gallery | str:
    """The run's gallery, or why there is none."""
    if not run.table:
        return "This run has no results table (yet): the gallery shows once its window reconciled."
    try:
        predictions, failures = read_window_tables(run.table)
    except (OSError, ValueError, KeyError):
        return "The results table of this run cannot be read."
    return build_gallery(predictions, failures, run_seed(run.dag_id, run.run_id), size)


def gallery_item(run: RunView, key: str) -> tuple[GalleryItem, list[dict[str, Any]]]:
    """One object of the run (listed in its manifest) with its records and raw result rows."""
    if key not in allowed_keys(run):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this run's manifest does not list that object")
    if not run.table:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this run has no results table (yet)")
    try:
        predictions, failures = read_window_tables(run.table)
        records = item_records(predictions, key)
        raw = read_raw_rows(records, run.destination_conn_id)
    except (OSError, ValueError, KeyError):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the results of this run cannot be read") from None
    failure = next((f for f in failures.to_pylist() if f.get("source_key") == key), None)
    name = next((r.get("source_name") for r in records if r.get("source_name")), None)
    return GalleryItem(key, "selected", name, records, None, failure), raw


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
    def run_tab(
        user: User, dag_id: str, run_id: str, sample: GallerySize = GALLERY_SIZE, repair_of: str | None = None
    ) -> str:
        run = run_data(user, dag_id, run_id)
        gallery = run_gallery(run, sample)
        section = (
            gallery_page.gallery_unavailable(gallery)
            if isinstance(gallery, str)
            else gallery_page.gallery_section(URL_PREFIX, run, gallery)
        )
        return pages.run_page(
            URL_PREFIX,
            run,
            run_notifications(run),
            section,
            gallery_page.GALLERY_STYLE,
            may_trigger=may_trigger(user, dag_id),
            triggered_from=repair_of,
        )

    @app.get("/runs/{dag_id}/{run_id}/image", response_class=HTMLResponse)
    def image(user: User, dag_id: str, run_id: str, key: ObjectKey) -> str:
        run = run_data(user, dag_id, run_id, live=False)
        item, raw = gallery_item(run, key)
        return gallery_page.image_page(URL_PREFIX, run, item, raw)

    @app.get("/runs/{dag_id}/{run_id}/media")
    def media(user: User, dag_id: str, run_id: str, key: ObjectKey) -> StreamingResponse:
        run = run_data(user, dag_id, run_id, live=False)
        try:
            found = open_media(run.source or {}, key, allowed_keys(run), max_media_bytes())
        except MediaRefused as exc:
            raise HTTPException(exc.status, str(exc)) from None
        headers = {**SECURITY_HEADERS, "Content-Length": str(found.size)}
        return StreamingResponse(found.chunks(), media_type=found.content_type, headers=headers)

    @app.get("/api/runs/{dag_id}/{run_id}/gallery")
    def gallery_json(
        user: User, dag_id: str, run_id: str, sample: GallerySize = GALLERY_SIZE
    ) -> dict[str, Any]:
        run = run_data(user, dag_id, run_id, live=False)
        gallery = run_gallery(run, sample)
        if isinstance(gallery, str):
            raise HTTPException(status.HTTP_404_NOT_FOUND, gallery)
        return {
            "objects": gallery.objects,
            "rows": gallery.rows,
            "failures": gallery.failures,
            "class_counts": dict(gallery.class_counts),
            "histogram": gallery.histogram,
            "items": [
                {
                    "source_key": item.source_key,
                    "why": item.reason,
                    "predictions": len(item.predictions),
                    "top_confidence": item.top_confidence,
                    "failure": item.failure,
                }
                for item in gallery.items
            ],
        }

    @app.post("/runs/{dag_id}/{run_id}/repair")
    def repair(user: User, request: Request, dag_id: str, run_id: str) -> RedirectResponse:
        """Trigger a repair run of this run's window, then show the new run's tab.

        The view lives in the Airflow UI's sandboxed frame, which may not navigate the page around it:
        the frame moves to the new run, and says so.
        """
        if not same_origin(request):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "a repair is asked for from the Roboflow view")
        run = run_data(user, dag_id, run_id)
        if not may_trigger(user, dag_id):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "you may not trigger runs of this pipeline")
        if not (run.window_start and run.window_end and run.manifest_uri):
            raise HTTPException(
                status.HTTP_409_CONFLICT, "this run's window was not exported: nothing to repair"
            )
        new_run = trigger_repair(user, run)
        target = (
            f"{URL_PREFIX}/runs/{quote(dag_id, safe='')}/{quote(new_run, safe='')}?repair_of={quote(run_id)}"
        )
        return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)

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
