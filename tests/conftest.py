"""Session-wide test set-up: an isolated Airflow home and the local stand-ins on loopback.

Airflow reads its configuration at import time, so the environment is fixed here, before any
test module imports it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airflow-test-home-"))

os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
# As the project's image does: operators defer unless a task says otherwise.
os.environ.setdefault("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO_ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME}/airflow.db")
# Tests never talk to real clouds: any AWS/GCP client without explicit config fails fast.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# gcsfs's default filesystem probes each bucket over gRPC, which the GCS emulator never answers
# (about 60 s per bucket); the plain JSON-API filesystem is what the emulator speaks.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


@pytest.fixture(scope="session")
def moto_server() -> Iterator:
    """moto's S3 server on a free loopback port (session-wide)."""
    from include.devstack.services import start_moto_server

    service = start_moto_server()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator:
    """gcp-storage-emulator on a free loopback port (session-wide)."""
    from include.devstack.services import start_gcs_emulator

    service = start_gcs_emulator()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def roboflow_emulator() -> Iterator:
    """The Roboflow cloud emulator with its defaults (session-wide; reset it for a clean slate)."""
    from include.devstack.services import start_roboflow_emulator
    from include.roboflow_emulator.testing import EmulatorHandle

    service = start_roboflow_emulator(extra_args=["--ingest-delay", "0.2", "--stage-delay", "0.2"])
    try:
        yield EmulatorHandle(service)
    finally:
        service.stop()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB in the session's Airflow home (for dag.test() and task runs)."""
    import subprocess
    import sys

    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    return Path(os.environ["AIRFLOW_HOME"])
