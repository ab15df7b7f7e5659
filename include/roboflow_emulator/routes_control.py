"""Control endpoints under /__emulator__/ (no API key, never faulted) and the API root lookup."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.roboflow_emulator.errors import bad_request
from include.roboflow_emulator.http_types import API, CONTROL, Request, Response, Route, RouteTable

if TYPE_CHECKING:
    from include.roboflow_emulator.app import Emulator


DELAY_FIELDS = {"ingestDelay": "ingest_delay", "stageDelay": "stage_delay"}


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

    @control.post("/delays")
    def delays(request: Request) -> Response:
        """Change the ingest and stage delays at run time, for the ingests and stages under way too."""
        body = request.json(required=False) or {}
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object of delays in seconds.")
        unknown = sorted(set(body) - set(DELAY_FIELDS))
        if unknown:
            raise bad_request(f"Unknown delay settings {unknown}; known: {sorted(DELAY_FIELDS)}.")
        for wire, value in body.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise bad_request(f"{wire} must be a number of seconds, at least 0; got {value!r}.")
        for wire, value in body.items():
            setattr(app.config, DELAY_FIELDS[wire], float(value))
        return Response.json({wire: getattr(app.config, name) for wire, name in DELAY_FIELDS.items()})

    @control.post("/reset")
    def reset(_: Request) -> Response:
        app.store.reset()
        return Response.json({"status": "ok"})

    @api.get("/")
    def workspace(_: Request) -> Response:
        return Response.json({"workspace": app.config.workspace})

    return control.routes + api.routes
