"""Requests, responses and routes as the route modules see them (no socket details)."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from include.roboflow_emulator.errors import bad_request


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self, required: bool = True) -> Any:
        if not self.body.strip():
            if required:
                raise bad_request("A JSON request body is required.")
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise bad_request(f"Request body is not valid JSON: {exc}.") from exc


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(status, json.dumps(payload).encode(), "application/json", headers or {})

    @classmethod
    def error(cls, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
        return cls.json({"error": message}, status, headers)


Handler = Callable[[Request], Response]

API = "api"  # needs api_key, counted, faulted
STORAGE = "storage"  # signed URLs, counted, never faulted
CONTROL = "control"  # /__emulator__/, never faulted


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    kind: str
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        self.regex = re.compile(f"^{pattern}$")

    @property
    def name(self) -> str:
        return f"{self.method} {self.template}"


class RouteTable:
    """Routes of one kind under one prefix, each declared on its handler: ``@table.get("/jobs")``."""

    def __init__(self, kind: str, prefix: str = "") -> None:
        self.kind = kind
        self.prefix = prefix
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler) -> Handler:
        self.routes.append(Route(method, self.prefix + template, handler, self.kind))
        return handler

    def get(self, template: str) -> Callable[[Handler], Handler]:
        return functools.partial(self.add, "GET", template)

    def post(self, template: str) -> Callable[[Handler], Handler]:
        return functools.partial(self.add, "POST", template)

    def put(self, template: str) -> Callable[[Handler], Handler]:
        return functools.partial(self.add, "PUT", template)
