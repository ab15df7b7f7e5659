"""A task process that a test can really kill: its environment, and waits on what it does meanwhile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from include.devstack.services import REPO_ROOT


def worker_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment (Airflow home, connections, astro.yaml) for a child process."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **extra}
    if env.pop("PYTHONDONTWRITEBYTECODE", None):
        # Bytecode caching is off in this environment: give the children a private cache, so a
        # second one does not compile Airflow all over again.
        env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    return env


def start_module(module: str, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``python -m module args...`` with its output appended to ``log``."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def wait_for(
    condition: Callable[[], Any], timeout: float, what: str, log: Path, worker: subprocess.Popen[bytes]
) -> Any:
    """The first truthy value of ``condition`` while ``worker`` runs; fails naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.poll() is None:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(
        f"timed out waiting for {what}; worker log:\n{log.read_text(errors='replace')[-4000:]}"
    )


def kill(worker: subprocess.Popen[bytes]) -> None:
    """SIGKILL, as a lost machine or the OOM killer would: no handler runs."""
    if worker.poll() is None:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
