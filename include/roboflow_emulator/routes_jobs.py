"""Batch Processing routes B1-B8 (docs/roboflow-api.md §3) under /batch-processing/v1/external/{ws}."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.roboflow_emulator.errors import bad_request, not_found
from include.roboflow_emulator.http_types import API, Request, Response, Route, RouteTable
from include.roboflow_emulator.pagination import PageQuery
from include.roboflow_emulator.state import Job, JobLog, Task

if TYPE_CHECKING:
    from include.roboflow_emulator.app import Emulator

PREFIX = "/batch-processing/v1/external/{workspace}"
JOB = "/jobs/{jobId}"
SEVERITIES = ("info", "warning", "error")


def routes(app: Emulator) -> list[Route]:
    jobs = app.jobs
    api = RouteTable(API, PREFIX)

    @api.get("/jobs")
    def list_jobs(request: Request) -> Response:
        page = PageQuery.of(request)
        with app.store.lock:
            ordered = sorted(app.store.jobs.values(), key=lambda j: (j.created, j.job_id), reverse=True)
            return page.response("jobs", ordered, Job.to_json)

    @api.get(JOB)
    def get_job(request: Request) -> Response:
        with app.store.lock:
            return Response.json({"job": jobs.get_job(request.params["jobId"]).to_json()})

    @api.post(JOB)
    def create_job(request: Request) -> Response:
        body = request.json()
        return Response.json(
            jobs.create_job(request.params["jobId"], body, request.query.get("name") or None)
        )

    @api.get(JOB + "/stages")
    def stages(request: Request) -> Response:
        with app.store.lock:
            job = jobs.get_job(request.params["jobId"])
            ordered = sorted(job.stages.values(), key=lambda s: s.start)
            return Response.json({"stages": [s.to_json() for s in ordered]})

    @api.get(JOB + "/stages/{stageId}/tasks")
    def tasks(request: Request) -> Response:
        page = PageQuery.of(request)
        with app.store.lock:
            job = jobs.get_job(request.params["jobId"])
            stage = job.stages.get(request.params["stageId"])
            if stage is None:
                raise not_found(
                    f"Job {job.job_id!r} has no stage {request.params['stageId']!r}; "
                    f"stages so far: {sorted(job.stages)}."
                )
            return page.response("tasks", stage.tasks, Task.to_json)

    @api.post(JOB + "/abort")
    def abort(request: Request) -> Response:
        return Response.json(jobs.abort(request.params["jobId"]))

    @api.post(JOB + "/restart")
    def restart(request: Request) -> Response:
        return Response.json(jobs.restart(request.params["jobId"], request.json(required=False)))

    @api.get(JOB + "/logs")
    def logs(request: Request) -> Response:
        page = PageQuery.of(request)
        severity = request.query.get("severity") or None
        if severity is not None and severity not in SEVERITIES:
            raise bad_request(f"severity must be one of {list(SEVERITIES)}, got {severity!r}.")
        with app.store.lock:
            job = jobs.get_job(request.params["jobId"])
            chosen = [entry for entry in job.logs if severity is None or entry.severity == severity]
            return page.response("logs", chosen, JobLog.to_json)

    return api.routes
