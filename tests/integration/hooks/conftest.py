"""The session's real Airflow (api-server, scheduler, dag-processor, triggerer; LocalExecutor) running
the hook-check DAGs of ``dag_files/`` against four Roboflow connections made through its REST API.

All four DAG runs are started together and followed to the end once for this folder (whose tests run
on one xdist worker: ``tests/xdist_scheduling.py``); the tests then read what a user would read: task
states, the task log files and the emulators' request counters.
"""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from include.devstack.airflow_stack import AirflowAPI
from include.devstack.services import LOOPBACK, Service, start_roboflow_emulator
from include.roboflow_emulator.testing import EmulatorHandle
from tests.integration.pipeline.test_scheduler_run import trigger
from tests.shared_stack import SharedStack

DAG_FILES = Path(__file__).parent / "dag_files"
TASKS = ("check_connection", "list_jobs")
MARKER = "hook-check-marker"

# Distinctive keys, so that finding none of them in a log means something.
GOOD_KEY = "rfqa-good-9c1Fq7Tz2W"
WRONG_KEY = "rfqa-wrong-4Hd8Kp0sXe"
NO_BATCH_KEY = "rfqa-nobp-7Vm3Rw5yLq"
UNREACHABLE_KEY = "rfqa-down-2Jx6Nc9bUe"
ALL_KEYS = (GOOD_KEY, WRONG_KEY, NO_BATCH_KEY, UNREACHABLE_KEY)


@dataclass
class TaskOutcome:
    state: str | None
    log_files: list[Path]

    @property
    def log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.log_files)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The structured log lines of the task (the supervisor writes one JSON object per line)."""
        events = []
        for line in self.log_text.splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events

    @property
    def error_text(self) -> str:
        """What the task's failure says: the exception type and message as logged."""
        texts = []
        for event in self.events:
            for detail in event.get("error_detail") or []:
                texts.append(f"{detail.get('exc_type')}: {detail.get('exc_value')}")
        return "\n".join(texts)


@dataclass
class CheckRun:
    """One DAG run of ``hook_check__<conn_id>``."""

    conn_id: str
    api_key: str
    base_url: str
    state: str = ""
    tasks: dict[str, TaskOutcome] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)


@dataclass
class HookChecks:
    home: Path
    env: dict[str, str]
    runs: dict[str, CheckRun]

    def all_log_text(self) -> str:
        """Every file Airflow wrote under the home's log folders (task, component and processor logs;
        the stack is at DEBUG level)."""
        texts = []
        for folder in (self.home / "logs", self.home / "component-logs"):
            texts += [p.read_text(errors="replace") for p in sorted(folder.rglob("*")) if p.is_file()]
        return "\n".join(texts)


def _api_requests(emulator: EmulatorHandle) -> Counter[str]:
    return Counter(
        {
            route: count
            for route, count in emulator.state()["requests"].items()
            if not route.split(" ", 1)[1].startswith("/__emulator__")
        }
    )


def _follow(api: AirflowAPI, dag_id: str, run_id: str, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
        if state in ("success", "failed"):
            return str(state)
        time.sleep(0.3)
    raise AssertionError(f"{dag_id} run {run_id} did not finish within {timeout:.0f}s")


@pytest.fixture(scope="package")
def hook_checks(roboflow_emulator: EmulatorHandle, airflow_stack: SharedStack) -> Iterator[HookChecks]:
    # Bound but not listening: connecting is refused, and no service started later can take the port.
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind((LOOPBACK, 0))
    closed_url = f"http://{LOOPBACK}:{closed.getsockname()[1]}"
    good: Service = start_roboflow_emulator(extra_args=["--api-key", GOOD_KEY])
    no_batch: Service = start_roboflow_emulator(extra_args=["--no-batch-processing-key", NO_BATCH_KEY])
    emulators = {
        "rf_qa_good": EmulatorHandle(good, api_key=GOOD_KEY),
        "rf_qa_wrong_key": roboflow_emulator,
        "rf_qa_no_batch": EmulatorHandle(no_batch, api_key=NO_BATCH_KEY),
    }
    runs = {
        "rf_qa_good": CheckRun("rf_qa_good", GOOD_KEY, good.url),
        "rf_qa_wrong_key": CheckRun("rf_qa_wrong_key", WRONG_KEY, roboflow_emulator.base_url),
        "rf_qa_unreachable": CheckRun("rf_qa_unreachable", UNREACHABLE_KEY, closed_url),
        "rf_qa_no_batch": CheckRun("rf_qa_no_batch", NO_BATCH_KEY, no_batch.url),
    }
    stack, home = airflow_stack, airflow_stack.home
    try:
        stack.add_connections(
            {
                run.conn_id: {"conn_type": "roboflow", "host": run.base_url, "password": run.api_key}
                for run in runs.values()
            }
        )
        before = {conn_id: _api_requests(emulator) for conn_id, emulator in emulators.items()}
        stack.add_dag_file("roboflow_hook_checks", (DAG_FILES / "roboflow_hook_checks.py").read_text())
        api = stack.api()
        dag_ids = {conn_id: f"hook_check__{conn_id}" for conn_id in runs}
        api.wait_for_dags(*dag_ids.values(), timeout=300)
        for dag_id in dag_ids.values():
            api.patch(f"/api/v2/dags/{dag_id}", {"is_paused": False})
            trigger(api, dag_id, "check", None)
        for conn_id, dag_id in dag_ids.items():
            run = runs[conn_id]
            run.state = _follow(api, dag_id, "check")
            instances = api.get(f"/api/v2/dags/{dag_id}/dagRuns/check/taskInstances")["task_instances"]
            states = {ti["task_id"]: ti["state"] for ti in instances}
            for task_id in TASKS:
                folder = home / "logs" / f"dag_id={dag_id}" / "run_id=check" / f"task_id={task_id}"
                run.tasks[task_id] = TaskOutcome(states.get(task_id), sorted(folder.glob("*.log")))
        for conn_id, emulator in emulators.items():
            runs[conn_id].requests = _api_requests(emulator) - before[conn_id]
        yield HookChecks(home=home, env=stack.env, runs=runs)
    finally:
        good.stop()
        no_batch.stop()
        closed.close()
