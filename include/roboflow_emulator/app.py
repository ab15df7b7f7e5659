"""The emulator assembled: configuration, state, services, routes and the bound HTTP server."""

from __future__ import annotations

import threading
from urllib.parse import unquote

from include.roboflow_emulator import routes_control, routes_jobs, routes_staging, routes_storage
from include.roboflow_emulator.config import EmulatorConfig
from include.roboflow_emulator.errors import ApiError
from include.roboflow_emulator.faults import FaultInjector, FaultSettings, parse_fault_update
from include.roboflow_emulator.fetching import ReferenceFetcher
from include.roboflow_emulator.http_types import API, Request, Route
from include.roboflow_emulator.ingest import IngestService
from include.roboflow_emulator.job_specs import payment_required
from include.roboflow_emulator.jobs import JobService
from include.roboflow_emulator.server import EmulatorHTTPServer, Router
from include.roboflow_emulator.signing import UrlSigner
from include.roboflow_emulator.state import Store
from include.roboflow_emulator.switches import ServiceSwitches, SwitchBoard, parse_switch_update
from include.roboflow_emulator.webhooks import WebhookSender


class Emulator:
    """Binds its port on construction; `serve_forever()` (or `start()` for a background thread)."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.store = Store()
        self.faults = FaultInjector(parse_fault_update(dict(config.faults), FaultSettings()))
        self.switches = SwitchBoard(parse_switch_update(dict(config.switches), ServiceSwitches()))
        self.http = EmulatorHTTPServer((config.host, config.port), self)
        config.port = int(self.http.server_address[1])
        self.signer = UrlSigner(config.base_url())
        self.fetcher = ReferenceFetcher(
            config.trusted_domains, config.fetch_timeout, config.fetch_concurrency
        )
        self.webhooks = WebhookSender(
            self.store,
            self.faults,
            config.publishable_key,
            attempts=config.webhook_attempts,
            timeout=config.webhook_timeout,
            backoff=config.webhook_backoff,
        )
        self.ingest = IngestService(
            self.store, config, self.fetcher, self.webhooks, self.signer, self.switches
        )
        self.jobs = JobService(self.ingest)
        self.router = Router(
            routes_control.routes(self)
            + routes_staging.routes(self)
            + routes_jobs.routes(self)
            + routes_storage.routes(self)
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.config.base_url()

    def authorize(self, route: Route, request: Request) -> None:
        request.params = {name: unquote(value) for name, value in request.params.items()}
        if route.kind != API:
            return
        key = request.query.get("api_key")
        blocked = set(self.config.no_batch_processing_keys)
        if not key or (key not in self.config.api_keys and key not in blocked):
            raise ApiError(401, "Unauthorized: api_key is missing or not a valid key.")
        workspace = request.params.get("workspace")
        if workspace is not None and workspace != self.config.workspace:
            raise ApiError(
                401, f"Unauthorized: the api_key does not grant access to workspace {workspace!r}."
            )
        if key in blocked and request.path.startswith("/batch-processing/"):
            raise payment_required(self.config.workspace)

    def serve_forever(self) -> None:
        self.http.serve_forever(poll_interval=0.1)

    def start(self) -> Emulator:
        self._thread = threading.Thread(target=self.serve_forever, name="emulator-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.webhooks.shutdown()
        self.fetcher.shutdown()
        self.store.reset()
