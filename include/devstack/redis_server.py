"""A private Redis on a free loopback port: the Celery broker of the distributed-executor test.

The server comes from the Debian ``redis-server`` package, installed with apt-get when it is missing
(CI runs as root). It keeps nothing on disk and is stopped by its own process id.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from include.devstack.debian_packages import installed
from include.devstack.services import LOOPBACK, Service, free_port

REDIS_PACKAGE = "redis-server"


def ensure_redis_server() -> str:
    """Path of ``redis-server``; installs the Debian package first when it is missing."""
    return installed(REDIS_PACKAGE, lambda: shutil.which("redis-server"))


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(log_dir: Path, timeout: float = 20.0) -> Service:
    """redis-server on 127.0.0.1:<free port>, no persistence; ready when it answers PING."""
    binary = ensure_redis_server()
    port = free_port()
    log_path = log_dir / "redis.log"
    argv = [binary, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]
    argv += ["--dir", str(log_dir)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    service = Service(name="redis", process=process, port=port, log_path=log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}:\n{service.log_tail()}")
        if _answers_ping(port):
            return service
        time.sleep(0.05)
    service.stop()
    raise RuntimeError(f"redis-server did not answer PING within {timeout:.0f}s:\n{service.log_tail()}")


def redis_url(service: Service, db: int = 0) -> str:
    return f"redis://{LOOPBACK}:{service.port}/{db}"
