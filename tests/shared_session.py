"""What one pytest session starts once and all of its pytest-xdist workers share.

The controller (the only process without xdist) makes a session folder and names it in
``ROBOFLOW_TEST_SESSION_DIR`` before any worker starts, so every worker finds the same folder. The
first worker that needs a shared service starts it under the folder's file lock and writes its state
(addresses, pids) to a file there; later workers read that file. The controller stops every recorded
process by pid when the session ends. It is made the reaper of orphaned descendants first, so the
processes a finished worker started are still its children to wait for, not zombies.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock

SESSION_DIR_ENV = "ROBOFLOW_TEST_SESSION_DIR"
STATE_FILE = "state.json"
_PR_SET_CHILD_SUBREAPER = 36


class SharedServiceError(RuntimeError):
    """A shared service failed to start (in this worker or an earlier one)."""


def is_controller() -> bool:
    """True in the xdist controller, and in a run without xdist."""
    return "PYTEST_XDIST_WORKER" not in os.environ


def open_session() -> Path:
    """The session folder: made by the controller, inherited by the workers through the environment."""
    existing = os.environ.get(SESSION_DIR_ENV)
    if existing and not is_controller():
        return Path(existing)
    folder = Path(tempfile.mkdtemp(prefix="roboflow-tests-"))
    folder.chmod(0o755)  # servers running as their own user (PostgreSQL) reach their folders in it
    os.environ[SESSION_DIR_ENV] = str(folder)
    _become_subreaper()
    return folder


def session_dir() -> Path:
    return Path(os.environ[SESSION_DIR_ENV])


def _become_subreaper() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


@contextlib.contextmanager
def exclusive(name: str) -> Iterator[Path]:
    """The folder of ``name`` in the session, held by this process alone until the block ends."""
    folder = session_dir() / name
    folder.mkdir(exist_ok=True)
    with FileLock(str(session_dir() / f"{name}.lock")):
        yield folder


def shared(name: str, start: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """The state of the shared service ``name``; the first caller of the session starts it.

    ``start(folder)`` starts the service and returns its state as JSON values, with the ``pids`` the
    controller stops at the end. A start that failed is not tried again by the next worker: every
    caller gets the first failure.
    """
    with exclusive(name) as folder:
        state_file = folder / STATE_FILE
        if state_file.exists():
            state: dict[str, Any] = json.loads(state_file.read_text())
        else:
            try:
                state = start(folder)
            except Exception as error:
                state = {"pids": [], "error": f"{type(error).__name__}: {error}"}
                _write_json(state_file, state)
                raise
            _write_json(state_file, state)
    if "error" in state:
        raise SharedServiceError(f"the shared {name} did not start: {state['error']}")
    return state


def _write_json(path: Path, value: object) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(value))
    partial.replace(path)


def close_session(keep: bool) -> list[str]:
    """Stop every process a shared service recorded (controller only); remove the folder unless
    ``keep``. Returns the names of the services that were stopped."""
    from include.devstack.airflow_stack import descendants, stop_pids

    folder = session_dir()
    stopped = []
    for state_file in sorted(folder.glob(f"*/{STATE_FILE}")):
        pids = [int(pid) for pid in json.loads(state_file.read_text()).get("pids", [])]
        family = pids + [child for pid in pids for child in descendants(pid)]
        # Top processes first, all at once so their shutdowns overlap; then what they left behind.
        stop_pids(pids, timeout=20.0)
        stop_pids(family)
        stopped.append(state_file.parent.name)
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return stopped
