"""Session-wide test set-up: an isolated Airflow home and the local stand-ins on loopback.

Airflow reads its configuration at import time, so the environment is fixed here, before any
test module imports it. With pytest-xdist every worker is a process of its own: it gets its own
Airflow home and SQLite DB (``dag.test()`` runs write there, and SQLite wants one writer) and its
own stand-ins; what the workers share (a migrated DB template, one Airflow stack) is in
``tests/shared_session.py`` and ``tests/shared_stack.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from include.devstack.airflow_stack import sqlite_url
from tests.shared_session import close_session, is_controller, open_session

if TYPE_CHECKING:
    from tests.shared_stack import SharedStack

REPO_ROOT = Path(__file__).resolve().parents[1]
SESSION_DIR = open_session()
# Never a developer's own AIRFLOW_HOME: tests write DAG runs, pools and connections.
_AIRFLOW_HOME = SESSION_DIR / f"airflow-home-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
_AIRFLOW_HOME.mkdir(exist_ok=True)

os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = sqlite_url(_AIRFLOW_HOME)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
# As the project's image does: operators defer unless a task says otherwise.
os.environ.setdefault("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO_ROOT / "plugins"))
# Tests never talk to real clouds: any AWS/GCP client without explicit config fails fast.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# gcsfs's default filesystem probes each bucket over gRPC, which the GCS emulator never answers
# (about 60 s per bucket); the plain JSON-API filesystem is what the emulator speaks.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The controller stops what the workers shared; the session folder stays when a test failed."""
    if is_controller():
        close_session(keep=exitstatus != 0)


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
    """A migrated SQLite metadata DB in this worker's Airflow home (for dag.test() and task runs)."""
    from tests.shared_stack import migrated_home

    return migrated_home(Path(os.environ["AIRFLOW_HOME"]))


@pytest.fixture(scope="session")
def airflow_stack() -> SharedStack:
    """The session's real Airflow stack (shared by every worker); add DAG files and connections of
    your own to it (``tests/shared_stack.py``)."""
    from tests.shared_stack import shared_stack

    return shared_stack()


# -- running the suite on xdist workers, and what is slow --------------------------------------------

SLOW_SECONDS = 10.0


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """With -n: folders that share a once-only fixture stay on one worker (``tests/xdist_scheduling.py``)."""
    from tests.xdist_scheduling import GroupedScheduling

    return GroupedScheduling(config, log) if config.getvalue("dist") in ("load", "loadgroup") else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On xdist workers: the order the units are handed out in (slow ones first)."""
    from tests.xdist_scheduling import DURATIONS_KEY, known_seconds, order

    workers = getattr(config, "workerinput", {}).get("workercount")
    if workers:
        cache = getattr(config, "cache", None)  # absent with -p no:cacheprovider
        seconds = known_seconds(cache.get(DURATIONS_KEY, {}) if cache is not None else {})
        items[:] = order(items, workers, seconds)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Each test marked slow with its time, and any unmarked test that took as long."""
    seconds: dict[str, float] = {}
    marked: set[str] = set()
    for reports in terminalreporter.stats.values():
        for report in reports:
            if isinstance(report, pytest.TestReport):
                seconds[report.nodeid] = seconds.get(report.nodeid, 0.0) + report.duration
                if "slow" in report.keywords:
                    marked.add(report.nodeid)
    if not seconds:
        return
    cache = getattr(terminalreporter.config, "cache", None)
    if cache is not None:  # the next run starts the longest slow tests first
        from tests.xdist_scheduling import DURATIONS_KEY

        known = cache.get(DURATIONS_KEY, {})
        cache.set(DURATIONS_KEY, {**known, **{nodeid: seconds[nodeid] for nodeid in marked}})
    unmarked = {nodeid for nodeid, spent in seconds.items() if spent >= SLOW_SECONDS} - marked
    for title, nodeids in (("slow tests", marked), (f"unmarked tests over {SLOW_SECONDS:.0f} s", unmarked)):
        if nodeids:
            terminalreporter.write_sep("=", f"{title} (setup + call + teardown)")
            for nodeid in sorted(nodeids, key=lambda n: -seconds[n]):
                terminalreporter.write_line(f"{seconds[nodeid]:8.1f}s  {nodeid}")
