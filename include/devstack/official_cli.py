"""Runs the official `inference` CLI (inference-cli 1.8.3 in .venv-cli) against an emulator.

The CLI only learns where the API is from `API_BASE_URL` and who calls from `ROBOFLOW_API_KEY`,
both read when its modules are imported. Two ways to run it:

- `exec`: the `.venv-cli/bin/inference` console script as a subprocess, per call (about 8 s each,
  almost all of it importing pandas, scipy and OpenCV);
- `fork` (default): `cli_forkserver.py` imports those libraries once and forks a child per call that
  imports `inference_cli.main` with the call's environment and runs it (about 0.3 s each).

Set `CONTRACT_CLI_MODE=exec` to run every call through the console script.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI_VENV = REPO_ROOT / ".venv-cli"
FORKSERVER_SCRIPT = Path(__file__).with_name("cli_forkserver.py")
DEFAULT_TIMEOUT = 60.0
MODES = ("fork", "exec")


class CliNotInstalledError(RuntimeError):
    """The official CLI is missing from .venv-cli."""


class CliTimeoutError(AssertionError):
    """A CLI call did not finish within its time-out."""


def locate_cli(venv: Path = CLI_VENV) -> Path:
    """The `inference` console script of the CLI venv, or a clear error saying how to install it."""
    executable = venv / "bin" / "inference"
    if not executable.is_file() or not os.access(executable, os.X_OK):
        raise CliNotInstalledError(
            f"The official client is not installed: {executable} is missing. "
            "Run `make install-cli` to create .venv-cli with inference-cli==1.8.3."
        )
    return executable


@dataclass(frozen=True)
class CliResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration: float

    @property
    def command(self) -> str:
        return "inference " + shlex.join(self.argv)

    def describe(self) -> str:
        return (
            f"$ {self.command}\nexit code {self.returncode} after {self.duration:.1f}s\n"
            f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
        )


class ForkServer:
    """One `cli_forkserver.py` process; calls are serialised through its stdin/stdout."""

    def __init__(self, python: Path, log_path: Path) -> None:
        self._log = open(log_path, "wb")  # noqa: SIM115 (kept open for the server's lifetime)
        self._process = subprocess.Popen(
            [str(python), str(FORKSERVER_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env={**_base_env(), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
            cwd=str(REPO_ROOT),
        )
        self._log_path = log_path
        self._lock = threading.Lock()
        self._ready = False

    def _read_line(self, timeout: float) -> dict[str, Any]:
        assert self._process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise CliTimeoutError(f"the CLI fork server did not answer within {timeout:.0f}s")
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(
                f"the CLI fork server exited with code {self._process.poll()}:\n"
                + self._log_path.read_text(errors="replace")[-3000:]
            )
        reply: dict[str, Any] = json.loads(line)
        return reply

    def run(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float) -> dict[str, Any]:
        assert self._process.stdin is not None
        with self._lock:
            if not self._ready:
                self._read_line(timeout=120.0)
                self._ready = True
            request = {"argv": list(argv), "env": dict(env), "cwd": str(cwd), "timeout": timeout}
            self._process.stdin.write((json.dumps(request) + "\n").encode())
            self._process.stdin.flush()
            return self._read_line(timeout=timeout + 30.0)

    def stop(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._log.close()


def _base_env() -> dict[str, str]:
    env = {
        "PATH": str(CLI_VENV / "bin") + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", tempfile.gettempdir()),
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
        # Rich wraps tables to the terminal width; wide enough that ids and names are never cut.
        "COLUMNS": "400",
        "TERM": "dumb",
        "NO_COLOR": "1",
    }
    if "TMPDIR" in os.environ:
        env["TMPDIR"] = os.environ["TMPDIR"]
    return env


class InferenceCli:
    """The official CLI bound to one API base URL and key."""

    def __init__(
        self,
        api_base_url: str,
        api_key: str,
        *,
        mode: str = "fork",
        executable: Path | None = None,
        forkserver: ForkServer | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"CONTRACT_CLI_MODE must be one of {MODES}, got {mode!r}")
        if mode == "fork" and forkserver is None:
            raise ValueError("mode 'fork' needs a fork server (see start_forkserver)")
        self.api_base_url = api_base_url.rstrip("/")
        self.api_key = api_key
        self.mode = mode
        self.executable = executable or locate_cli()
        self._forkserver = forkserver

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {
            **_base_env(),
            "API_BASE_URL": self.api_base_url,
            "ROBOFLOW_API_KEY": self.api_key,
            **(extra or {}),
        }

    def run(
        self,
        *args: str | os.PathLike[str],
        timeout: float = DEFAULT_TIMEOUT,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> CliResult:
        """Run `inference rf-cloud <args>`; with check=True a non-zero exit fails the test."""
        argv = ("rf-cloud", *(str(a) for a in args))
        full_env = self.env(env)
        workdir = cwd or Path(tempfile.gettempdir())
        if self._forkserver is not None and self.mode == "fork":
            reply = self._forkserver.run(argv, full_env, workdir, timeout)
            if reply["timed_out"]:
                raise CliTimeoutError(f"inference {shlex.join(argv)} timed out after {timeout:.0f}s")
            result = CliResult(argv, reply["returncode"], reply["stdout"], reply["stderr"], reply["duration"])
        else:
            result = self._exec(argv, full_env, workdir, timeout)
        if check and result.returncode != 0:
            raise AssertionError("the CLI failed:\n" + result.describe())
        return result

    def _exec(self, argv: tuple[str, ...], env: dict[str, str], cwd: Path, timeout: float) -> CliResult:
        started = time.monotonic()
        # Its own session, so that a time-out also ends the CLI's upload worker processes.
        process = subprocess.Popen(
            [str(self.executable), *argv],
            env=env,
            cwd=str(cwd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as error:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise CliTimeoutError(f"inference {shlex.join(argv)} timed out after {timeout:.0f}s") from error
        return CliResult(argv, process.returncode, stdout, stderr, time.monotonic() - started)


def start_forkserver(log_dir: Path) -> ForkServer:
    """Start a fork server now (it warms up in the background; the first call waits for it)."""
    python = CLI_VENV / "bin" / "python"
    locate_cli()
    return ForkServer(python, log_dir / "inference-cli-forkserver.log")
