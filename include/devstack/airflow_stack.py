"""A throw-away Airflow installation: its environment, DB, pools, and its components as processes.

Used by the demo (``dag.test()`` in a temporary AIRFLOW_HOME) and by the integration test that runs
a DAG through a real api-server, scheduler, dag-processor and triggerer (LocalExecutor, SQLite).
Every component is a separate child process, stopped by its own pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from include.devstack.services import LOOPBACK, REPO_ROOT, Service, free_port, start_process, wait_or_kill

ROBOFLOW_POOL = "roboflow_api"
ADMIN_USER = "admin"


def airflow_bin() -> str:
    """The ``airflow`` console script of the running interpreter's environment."""
    candidate = Path(sys.executable).parent / "airflow"
    return str(candidate) if candidate.exists() else "airflow"


def sqlite_url(home: Path) -> str:
    """The metadata DB of ``home``. SQLite takes one writer at a time: a busy component waits up to
    60 s for the lock (instead of the driver's 5 s, which a loaded 2-core machine exceeds)."""
    return f"sqlite:///{home}/airflow.db?timeout=60"


def connection_env(conn_id: str, conn: Mapping[str, Any]) -> dict[str, str]:
    """``AIRFLOW_CONN_<ID>`` holding the connection as JSON (no DB row needed)."""
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(dict(conn))}


def airflow_env(
    home: Path,
    *,
    dags_folder: Path = REPO_ROOT / "dags",
    connections: Mapping[str, Mapping[str, Any]] | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for Airflow processes using ``home`` with SQLite and LocalExecutor.

    PYTHONPATH is the repo root so that every component (the triggerer too) imports ``include``.
    """
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlite_url(home),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        # A freshly started api-server on a busy 2-core machine can take tens of seconds to answer a
        # task's first "start" call. The default 5 s gives up, and its retry is refused because the
        # first call did mark the task running: the task fails before it starts.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "90",
        "PYTHONPATH": str(REPO_ROOT),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    for conn_id, conn in (connections or {}).items():
        env.update(connection_env(conn_id, conn))
    env.update(extra or {})
    return env


def run_airflow(args: list[str], env: Mapping[str, str], *, timeout: float = 120) -> str:
    """Run an ``airflow`` CLI command; raise with its output when it fails."""
    result = subprocess.run(
        [airflow_bin(), *args],
        env={**os.environ, **env},
        cwd=str(REPO_ROOT),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"airflow {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


def migrate_db(env: Mapping[str, str]) -> None:
    run_airflow(["db", "migrate"], env)


def ensure_pool(env: Mapping[str, str], name: str = ROBOFLOW_POOL, slots: int = 4) -> None:
    """Create (or resize) the pool the Roboflow tasks run in."""
    run_airflow(["pools", "set", name, str(slots), "Roboflow API calls of all pipelines"], env)


@dataclass
class Component:
    """An Airflow component (or any child process) writing to its own log, stopped by pid."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    children: list[int] = field(default_factory=list)

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM) without waiting; remember its children first."""
        if self.process.poll() is None:
            self.children = descendants(self.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it is still running after ``timeout`` seconds.

        Children it leaves behind (log servers, executor workers) are stopped by their pids too,
        so no orphan keeps a port or the SQLite file open.
        """
        if self.process.poll() is None:
            self.terminate()
            wait_or_kill(self.process, timeout)
        stop_pids(self.children)


def descendants(pid: int) -> list[int]:
    """Pids of every process below ``pid``."""
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def stop_pids(pids: list[int], timeout: float = 5.0) -> None:
    """SIGTERM each pid still alive, then SIGKILL those that outlive ``timeout``."""
    import psutil

    alive = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            process = psutil.Process(pid)
            process.terminate()
            alive.append(process)
    deadline = time.monotonic() + timeout
    lingering = []
    for process in alive:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except psutil.TimeoutExpired:
            lingering.append(process)
        except (psutil.NoSuchProcess, OSError):
            # Gone (and possibly reaped by its parent) between the signal and the wait.
            continue
    for process in lingering:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


@dataclass
class AirflowStack:
    """api-server + scheduler + dag-processor + triggerer of one AIRFLOW_HOME."""

    home: Path
    env: dict[str, str]
    api_server: Service
    components: list[Component] = field(default_factory=list)
    password: str = ""

    @property
    def base_url(self) -> str:
        return self.api_server.url

    def component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    def stop(self) -> None:
        """Stop each component by pid (all asked at once, so their shutdowns overlap), then the API."""
        for component in self.components:
            component.terminate()
        for component in self.components:
            component.stop()
        api_children = descendants(self.api_server.pid)
        self.api_server.stop(timeout=15)
        stop_pids(api_children)

    def api(self) -> AirflowAPI:
        return AirflowAPI(self.base_url, ADMIN_USER, self.password)


def _simple_auth_env(home: Path) -> tuple[dict[str, str], str]:
    password = secrets.token_urlsafe(12)
    passwords_file = home / "simple_auth_manager_passwords.json"
    passwords_file.write_text(json.dumps({ADMIN_USER: password}))
    env = {
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file),
    }
    return env, password


def api_server_env(home: Path, env: Mapping[str, str], port: int) -> tuple[dict[str, str], str]:
    """The environment every component shares (tokens, API URL, log ports) and the admin password."""
    auth_env, password = _simple_auth_env(home)
    shared = {
        **env,
        **auth_env,
        # Every component must sign and check the same tokens, and workers must find the API.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__WORKERS": env.get("AIRFLOW__API__WORKERS", "2"),
        "AIRFLOW__API__HOST": LOOPBACK,
        "AIRFLOW__API__BASE_URL": f"http://{LOOPBACK}:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{LOOPBACK}:{port}/execution/",
        # Log servers of the scheduler and triggerer on free ports: other stacks may hold the defaults.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }
    return shared, password


def start_api_server(
    home: Path, shared: Mapping[str, str], *, health_timeout: float = 180.0, wait: bool = True
) -> Service:
    """``airflow api-server`` on the port ``shared`` names, ready when its health URL answers (returned
    at once, not ready yet, when ``wait`` is false)."""
    port = int(shared["AIRFLOW__API__PORT"])
    log_dir = home / "component-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    return start_process(
        "api-server",
        [airflow_bin(), "api-server", "--host", LOOPBACK, "--port", str(port)],
        port,
        health_path="/api/v2/monitor/health",
        timeout=health_timeout,
        env=dict(shared),
        log_dir=log_dir,
        wait=wait,
    )


def start_airflow_stack(
    home: Path, env: Mapping[str, str], *, health_timeout: float = 180.0, port: int | None = None
) -> AirflowStack:
    """Start the four components as ``airflow <component>`` processes and wait until all are healthy.

    ``env`` should come from ``airflow_env``; the DB must already be migrated. ``port`` (default: a
    free one) lets a caller tell others, e.g. Roboflow's webhook target, where the API will be.
    """
    shared, password = api_server_env(home, env, port or free_port())
    log_dir = home / "component-logs"
    # All four start at once: none needs another to start, and each spends seconds importing Airflow.
    api_server = start_api_server(home, shared, health_timeout=health_timeout, wait=False)
    stack = AirflowStack(home=home, env=shared, api_server=api_server, password=password)
    try:
        for name in ("scheduler", "dag-processor", "triggerer"):
            log_path = log_dir / f"{name}.log"
            with open(log_path, "wb") as log:
                process = subprocess.Popen(
                    [airflow_bin(), name],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env={**os.environ, **shared},
                    cwd=str(REPO_ROOT),
                )
            stack.components.append(Component(name, process, log_path))
        _wait_until_components_healthy(stack, health_timeout)
    except BaseException:
        stack.stop()
        raise
    return stack


def _wait_until_components_healthy(stack: AirflowStack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if stack.api_server.process.poll() is not None:
            raise RuntimeError(
                f"airflow api-server exited with {stack.api_server.process.returncode}:\n"
                f"{stack.api_server.log_tail(30)}"
            )
        for component in stack.components:
            if component.process.poll() is not None:
                tail = "\n".join(component.log_text().splitlines()[-30:])
                raise RuntimeError(
                    f"airflow {component.name} exited with {component.process.returncode}:\n{tail}"
                )
        try:
            with urllib.request.urlopen(stack.base_url + "/api/v2/monitor/health", timeout=2) as response:
                health = json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            health = {}
        # The dag-processor reports its first heartbeat only after a parsing loop; callers wait
        # for their DAG to appear instead.
        wanted = ("scheduler", "triggerer")
        if all(health.get(name, {}).get("status") == "healthy" for name in wanted):
            return
        time.sleep(0.5)
    raise RuntimeError(f"Airflow components not healthy after {timeout:.0f}s: {health}")


@contextlib.contextmanager
def running_stack(home: Path, env: Mapping[str, str], port: int | None = None) -> Iterator[AirflowStack]:
    stack = start_airflow_stack(home, env, port=port)
    try:
        yield stack
    finally:
        stack.stop()


class AirflowAPIError(RuntimeError):
    """The Airflow REST API answered with an error status."""

    def __init__(self, method: str, path: str, status_code: int, text: str) -> None:
        super().__init__(f"{method} {path} -> {status_code}: {text}")
        self.status_code = status_code


class AirflowAPI:
    """The few REST calls the tests and the demo need, authenticated with a JWT from /auth/token."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = {"username": username, "password": password}
        self._token: str | None = None

    def _request(self, method: str, path: str, body: object | None = None, attempts: int = 3) -> Any:
        """One call; transport errors (a busy api-server on a loaded machine) are tried again.

        Callers make their POSTs idempotent (e.g. an explicit ``dag_run_id``), so a retry is safe.
        """
        import httpx

        for attempt in range(1, attempts + 1):
            try:
                if self._token is None:
                    response = httpx.post(f"{self.base_url}/auth/token", json=self._credentials, timeout=60)
                    response.raise_for_status()
                    self._token = response.json()["access_token"]
                response = httpx.request(
                    method,
                    f"{self.base_url}{path}",
                    json=body,
                    headers={"Authorization": f"Bearer {self._token}"},
                    timeout=60,
                )
                break
            except httpx.TransportError:
                if attempt == attempts:
                    raise
                time.sleep(2 * attempt)
        if response.status_code >= 400:
            raise AirflowAPIError(method, path, response.status_code, response.text[:500])
        return response.json() if response.content else None

    def get(self, path: str) -> Any:
        return self._request("GET", path)

    def post(self, path: str, body: object) -> Any:
        return self._request("POST", path, body)

    def patch(self, path: str, body: object) -> Any:
        return self._request("PATCH", path, body)

    def wait_for_dags(self, *dag_ids: str, timeout: float = 180) -> None:
        """Until the dag-processor has parsed every one of ``dag_ids`` and the API knows them."""
        deadline = time.monotonic() + timeout
        missing = list(dag_ids)
        while time.monotonic() < deadline:
            missing = [dag_id for dag_id in missing if not self._dag_known(dag_id)]
            if not missing:
                return
            time.sleep(0.5)
        raise RuntimeError(f"DAGs never parsed: {missing}; import errors: {self.get('/api/v2/importErrors')}")

    def _dag_known(self, dag_id: str) -> bool:
        try:
            self.get(f"/api/v2/dags/{dag_id}")
        except AirflowAPIError:
            return False
        return True
