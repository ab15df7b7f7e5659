"""Control endpoints under /__emulator__/ (no API key, never faulted) and the API root lookup."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.roboflow_emulator.errors import bad_request
from include.roboflow_emulator.http_types import API, CONTROL, Request, Response, Route, RouteTable

if TYPE_CHECKING:
    from include.roboflow_emulator.app import Emulator


def routes(app: Emulator) -> list[Route]:
    control, api = RouteTable(CONTROL, "/__emulator__"), RouteTable(API)

    @control.get("/health")
    def health(_: Request) -> Response:
        return Response.json({"status": "ok"})

    @control.get("/state")
    def state(_: Request) -> Response:
        return Response.json({**app.store.snapshot(), "faults": app.faults.settings.to_json()})

    @control.post("/faults")
    def faults(request: Request) -> Response:
        body = request.json(required=False) or {}
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object of fault settings.")
        try:
            settings = app.faults.update(body)
        except ValueError as exc:
            raise bad_request(str(exc)) from exc
        return Response.json(settings.to_json())

    @control.get("/digest")
    def digest(_: Request) -> Response:
        return Response.json({"digest": app.store.digest()})

    @control.get("/machines")
    def machines(_: Request) -> Response:
        return Response.json(app.jobs.machines.to_json())

    @control.post("/machines")
    def set_machines(request: Request) -> Response:
        return Response.json(app.jobs.machines.update(request.json(required=False) or {}))

    @control.post("/reset")
    def reset(_: Request) -> Response:
        app.store.reset()
        app.jobs.reset_machines()
        return Response.json({"status": "ok"})

    @api.get("/")
    def workspace(_: Request) -> Response:
        return Response.json({"workspace": app.config.workspace})

    return control.routes + api.routes
