"""Benchmarks that measure in a child process: its JSON line, and a fresh, migrated Airflow home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from include.devstack.services import REPO_ROOT


def fresh_airflow_env(workdir: Path) -> dict[str, str]:
    """Environment of a new SQLite metadata DB under ``workdir`` (migrated here), the project's DAGs
    and plugins."""
    home = workdir / "airflow-home"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
        "PYTHONPATH": str(REPO_ROOT),
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    return env


def child_result(module: str, *args: object, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``python -m <module> <args>`` and return the JSON object of its last output line."""
    out = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=str(REPO_ROOT),
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))
