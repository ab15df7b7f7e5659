"""Control endpoints under /__emulator__/ (no API key, never faulted) and the API root lookup.

`/faults`, `/switches` and `/machines` change settings (kept across `/reset`); `/clock` and `/reset`
change the world (a reset also puts the clock back to wall time). `/digest` hashes the world.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from include.roboflow_emulator.errors import bad_request
from include.roboflow_emulator.http_types import API, CONTROL, Request, Response, Route, RouteTable
from include.roboflow_emulator.timestamps import rfc3339

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
        return Response.json(
            {
                **app.store.snapshot(),
                "faults": app.faults.settings.to_json(),
                "switches": app.switches.current.to_json(),
            }
        )

    def settings_body(request: Request, what: str) -> dict[str, object]:
        body = request.json(required=False) or {}
        if not isinstance(body, dict):
            raise bad_request(f"The request body must be a JSON object of {what}.")
        return body

    def update(request: Request, what: str, apply: Callable[[dict[str, object]], Any]) -> Response:
        try:
            settings = apply(settings_body(request, what))
        except ValueError as exc:
            raise bad_request(str(exc)) from exc
        return Response.json(settings.to_json())

    @control.post("/faults")
    def faults(request: Request) -> Response:
        return update(request, "fault settings", app.faults.update)

    @control.get("/digest")
    def digest(_: Request) -> Response:
        return Response.json({"digest": app.store.digest()})

    @control.get("/machines")
    def machines(_: Request) -> Response:
        return Response.json(app.jobs.machines.to_json())

    @control.post("/machines")
    def set_machines(request: Request) -> Response:
        return update(request, "machine settings", app.jobs.machines.update)

    @control.post("/switches")
    def switches(request: Request) -> Response:
        return update(request, "service switches", app.switches.update)

    @control.post("/clock")
    def clock(request: Request) -> Response:
        body = settings_body(request, "clock settings")
        seconds = body.get("advanceSeconds")
        if (
            set(body) != {"advanceSeconds"}
            or isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
        ):
            raise bad_request('Send {"advanceSeconds": <seconds to move the clock forward>}.')
        try:
            now = app.store.clock.advance(float(seconds))
        except ValueError as exc:
            raise bad_request(str(exc)) from exc
        return Response.json({"now": rfc3339(now), "offsetSeconds": app.store.clock.offset.total_seconds()})

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
