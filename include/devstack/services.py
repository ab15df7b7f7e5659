"""Local stand-ins on loopback: the Roboflow emulator, moto server (S3) and the GCS emulator.

Each service is a child process on a free 127.0.0.1 port, ready when its health URL answers,
and stopped by its own process id. Tests, the demo and the benchmarks all start them from here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_or_kill(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for a process that was told to stop; SIGKILL it by its pid if it lingers past ``timeout``."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


@dataclass
class Service:
    """A running child process serving HTTP on 127.0.0.1."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the process by its pid: SIGTERM, then SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        wait_or_kill(self.process, timeout)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_until_healthy(service: Service, health_path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = service.url + health_path
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(
                f"{service.name} exited with code {service.process.returncode} before it was ready:\n"
                f"{service.log_tail()}"
            )
        try:
            with urllib.request.urlopen(url, timeout=1.0):
                return
        except urllib.error.HTTPError:
            return  # it answered: the server is up, whatever the status
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    service.stop()
    raise RuntimeError(f"{service.name} did not answer {url} within {timeout:.0f}s:\n{service.log_tail()}")


def start_process(
    name: str,
    argv: Sequence[str],
    port: int,
    *,
    health_path: str = "/",
    timeout: float = 30.0,
    env: dict[str, str] | None = None,
    log_dir: Path | None = None,
    wait: bool = True,
) -> Service:
    """Start argv as a child process and wait until http://127.0.0.1:port/health_path answers
    (unless ``wait`` is false: the caller then waits on a condition of its own)."""
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix=f"{name}-"))
    log_path = log_dir / f"{name}.log"
    child_env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env,
            cwd=str(REPO_ROOT),
        )
    service = Service(name=name, process=process, port=port, log_path=log_path, env=env or {})
    if wait:
        _wait_until_healthy(service, health_path, timeout)
    return service


def _venv_script(name: str) -> str:
    """A console script of the running interpreter's environment."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def start_moto_server(port: int | None = None, **kwargs: object) -> Service:
    """moto's S3-compatible server. It does not check signatures or expiry."""
    port = port or free_port()
    argv = [_venv_script("moto_server"), "-H", LOOPBACK, "-p", str(port)]
    return start_process("moto", argv, port, health_path="/moto-api/", **kwargs)  # type: ignore[arg-type]


def start_gcs_emulator(port: int | None = None, **kwargs: object) -> Service:
    """gcp-storage-emulator, in memory. It does not check signatures."""
    port = port or free_port()
    argv = [
        _venv_script("gcp-storage-emulator"),
        "start",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--in-memory",
    ]
    return start_process("gcs-emulator", argv, port, health_path="/", **kwargs)  # type: ignore[arg-type]


def start_roboflow_emulator(
    port: int | None = None, extra_args: Sequence[str] = (), **kwargs: object
) -> Service:
    """The Roboflow cloud emulator (include.roboflow_emulator) with the given command-line options."""
    port = port or free_port()
    argv = [sys.executable, "-m", "include.roboflow_emulator", "--host", LOOPBACK, "--port", str(port)]
    argv += list(extra_args)
    return start_process("roboflow-emulator", argv, port, health_path="/__emulator__/health", **kwargs)  # type: ignore[arg-type]


@contextlib.contextmanager
def running(service: Service) -> Iterator[Service]:
    """Stop the service on exit, whatever happens inside."""
    try:
        yield service
    finally:
        service.stop()
