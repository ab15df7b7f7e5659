"""Control endpoints under /__emulator__/ (no API key, never faulted) and the API root lookup."""

from __future__ import annotations

from typing import TYPE_CHECKING

from include.roboflow_emulator.errors import bad_request
from include.roboflow_emulator.http_types import API, CONTROL, Request, Response, Route

if TYPE_CHECKING:
    from include.roboflow_emulator.app import Emulator


def routes(app: Emulator) -> list[Route]:
    def health(_: Request) -> Response:
        return Response.json({"status": "ok"})

    def state(_: Request) -> Response:
        return Response.json({**app.store.snapshot(), "faults": app.faults.settings.to_json()})

    def faults(request: Request) -> Response:
        body = request.json(required=False) or {}
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object of fault settings.")
        try:
            settings = app.faults.update(body)
        except ValueError as exc:
            raise bad_request(str(exc)) from exc
        return Response.json(settings.to_json())

    def reset(_: Request) -> Response:
        app.store.reset()
        return Response.json({"status": "ok"})

    def workspace(_: Request) -> Response:
        return Response.json({"workspace": app.config.workspace})

    return [
        Route("GET", "/__emulator__/health", health, CONTROL),
        Route("GET", "/__emulator__/state", state, CONTROL),
        Route("POST", "/__emulator__/faults", faults, CONTROL),
        Route("POST", "/__emulator__/reset", reset, CONTROL),
        Route("GET", "/", workspace, API),
    ]
