"""Migrated Airflow homes, and one real Airflow stack shared by the tests that need the production shape.

``migrated_home`` copies a metadata DB migrated once per session instead of running ``airflow db
migrate`` again. The shared stack (api-server, scheduler, dag-processor and triggerer as separate
processes; LocalExecutor) starts the first time a test asks for it and stops when the session ends.
Its metadata DB is a private PostgreSQL: on SQLite, several tests' runs writing at once fail the
scheduler with "database is locked" (a read transaction cannot wait to become a write). Each test
brings DAG files and connections of its own, under ids no other test uses, so no test can see
another's runs. Connections are created through the REST API, as a user would, so the
triggerer and the tasks get them from the API server like any stored connection.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from include.devstack.airflow_stack import (
    ROBOFLOW_POOL,
    AirflowAPI,
    AirflowAPIError,
    airflow_env,
    migrate_db,
    sqlite_url,
    start_airflow_stack,
)
from include.devstack.postgres_server import postgres_url, start_postgres
from tests.shared_session import shared

DB_TEMPLATE = "airflow-db-template"
STACK = "airflow-stack"

# A DAG file of the shared stack that builds the DAGs of one test's astro.yaml, as dags/ does.
PIPELINE_DAG_FILE = '''"""Airflow DAGs of the pipelines in {path} (one test's astro.yaml)."""

from include.roboflow_batch.pipeline.factory import raise_pipeline_problems, register_pipelines

register_pipelines(globals(), {path!r})
raise_pipeline_problems({path!r})
'''


def _migrate_template(folder: Path) -> dict[str, Any]:
    home = folder / "home"
    home.mkdir()
    env = {**os.environ, "AIRFLOW_HOME": str(home)}
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = sqlite_url(home)
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=env)
    return {"pids": [], "home": str(home)}


def migrated_home(home: Path) -> Path:
    """``home`` with a migrated SQLite metadata DB (``airflow.db``) and, unless it has one, the
    ``airflow.cfg`` a migration writes, both copied from the session's template."""
    template = Path(shared(DB_TEMPLATE, _migrate_template)["home"])
    home.mkdir(parents=True, exist_ok=True)
    for name in ("airflow.db", "airflow.db-wal"):
        if (template / name).exists():
            shutil.copyfile(template / name, home / name)
    config = home / "airflow.cfg"
    if not config.exists():
        # The generated config names its own home in its paths (logs, DAGs, the DB).
        config.write_text((template / "airflow.cfg").read_text().replace(str(template), str(home)))
    return home


@dataclass(frozen=True)
class SharedStack:
    """The session's Airflow stack as a test uses it."""

    home: Path
    base_url: str
    password: str
    env: dict[str, str]

    @property
    def dags_folder(self) -> Path:
        return self.home / "dags"

    @property
    def log_folder(self) -> Path:
        return self.home / "logs"

    @property
    def lineage_file(self) -> Path:
        """Every task's OpenLineage events (the file transport), one JSON per line."""
        return lineage_file(self.home)

    def api(self) -> AirflowAPI:
        return AirflowAPI(self.base_url, "admin", self.password)

    def add_connections(self, connections: Mapping[str, Mapping[str, Any]]) -> None:
        """Create ``connections`` (id -> connection as ``include.devstack.connections`` builds it). An
        id another test already uses is refused: changing it would change that test's runs."""
        api = self.api()
        for conn_id, conn in connections.items():
            body = {key: value for key, value in conn.items() if key != "extra"}
            body.update(connection_id=conn_id, extra=json.dumps(conn.get("extra") or {}))
            try:
                api.post("/api/v2/connections", body)
            except AirflowAPIError as error:
                if error.status_code != 409:
                    raise
                # A retried POST whose first attempt did create it finds its own connection.
                stored = api.get(f"/api/v2/connections/{conn_id}")
                if (stored["conn_type"], stored["host"]) != (conn["conn_type"], conn.get("host")):
                    raise ValueError(f"connection id {conn_id!r} is taken on the shared stack") from error

    def add_dag_file(self, name: str, source: str) -> Path:
        """``source`` as ``<name>.py`` in the DAGs folder; the dag-processor finds it within seconds."""
        path = self.dags_folder / f"{name}.py"
        if path.exists():
            raise ValueError(f"a DAG file {path.name} is already on the shared stack")
        _replace_text(path, source, staging=self.home / "staging")
        return path

    def add_pipelines(self, name: str, document: Mapping[str, Any]) -> Path:
        """An astro.yaml (``document``) of its own and the DAG file that builds its pipelines."""
        pipelines_file = self.home / "pipelines" / f"{name}.yaml"
        pipelines_file.parent.mkdir(exist_ok=True)
        pipelines_file.write_text(yaml.safe_dump(dict(document), sort_keys=False))
        self.add_dag_file(name, PIPELINE_DAG_FILE.format(path=str(pipelines_file)))
        return pipelines_file


def _replace_text(path: Path, text: str, staging: Path | None = None) -> None:
    """Write ``text`` so that a reader sees the old file or the whole new one, never a part."""
    folder = staging or path.parent
    folder.mkdir(exist_ok=True)
    partial = folder / f".{path.name}.partial"
    partial.write_text(text)
    partial.replace(path)


# Settings of the shared stack that differ from a one-test stack, and why.
SHARED_SETTINGS = {
    # A test adds its DAG files while the stack runs: look for new files every few seconds. No test
    # changes a file once written, so parse each one once rather than every 30 s.
    "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
    # Several tests' runs at once; a deferred wait frees its slot.
    "AIRFLOW__CORE__PARALLELISM": "6",
    # One API worker process serves every test's calls and starts in half the time of two.
    "AIRFLOW__API__WORKERS": "1",
    # The hook checks prove that no API key reaches any log line, at every level.
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG",
    # The UI test presses the connection Test button.
    "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
}
POOL_SLOTS = 8


def lineage_file(home: Path) -> Path:
    return home / "openlineage.jsonl"


def transport_settings(path: Path) -> dict[str, str]:
    """Environment that makes every Airflow process write its OpenLineage events to ``path``."""
    transport = {"type": "file", "log_file_path": str(path), "append": True}
    return {
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "shared-stack",
    }


def _start_stack(folder: Path) -> dict[str, Any]:
    folder.chmod(0o755)  # the PostgreSQL server runs as its own user and needs its way in
    database = start_postgres(folder / "postgres", "airflow")
    try:
        home = folder / "home"
        (home / "dags").mkdir(parents=True)
        url = postgres_url(database, "airflow")
        settings = {
            **SHARED_SETTINGS,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
            # The UI test reads its run's lineage events; each names its DAG run, so tests share the file.
            **transport_settings(lineage_file(home)),
        }
        env = airflow_env(home, dags_folder=home / "dags", extra=settings)
        migrate_db(env)
        stack = start_airflow_stack(home, env)
    except BaseException:
        database.stop()
        raise
    try:
        _ensure_pool(stack.api())
    except BaseException:
        stack.stop()
        database.stop()
        raise
    components = [stack.api_server.pid, *(component.pid for component in stack.components)]
    return {
        # The DB last: stopped with the others, it waits for their connections to close.
        "pids": [*components, database.pid],
        "home": str(home),
        "base_url": stack.base_url,
        "password": stack.password,
        "env": stack.env,
    }


def _ensure_pool(api: AirflowAPI) -> None:
    body = {"name": ROBOFLOW_POOL, "slots": POOL_SLOTS, "description": "Roboflow API calls of all pipelines"}
    try:
        api.post("/api/v2/pools", body)
    except AirflowAPIError as error:
        if error.status_code != 409:  # a retried POST that did create it
            raise


def shared_stack() -> SharedStack:
    """The session's stack, started by the first test (of any worker) that needs it."""
    state = shared(STACK, _start_stack)
    return SharedStack(
        home=Path(state["home"]), base_url=state["base_url"], password=state["password"], env=state["env"]
    )


def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.5) -> Any:
    """``condition()``'s first truthy value, asked every ``interval`` seconds for at most ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
