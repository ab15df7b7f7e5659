"""A private PostgreSQL on a free loopback port: the metadata DB of the tests' shared Airflow stack.

The server comes from the Debian ``postgresql`` package (installed with apt-get when missing). Its
cluster lives in a folder of its own, made for speed rather than durability (no fsync), and the
server is stopped by its own process id. PostgreSQL refuses to run as root, so under root it runs as
the package's ``postgres`` user.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
from pathlib import Path
from typing import Any

from include.devstack.debian_packages import installed
from include.devstack.services import LOOPBACK, Service, free_port

POSTGRES_PACKAGE = "postgresql"
SUPERUSER = "postgres"
# Throw-away data: nothing has to survive a crash.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200")


def _bin_dir() -> str | None:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return str(versions[-1].parent) if versions else None


def _as_owner(root: Path) -> dict[str, Any]:
    """Popen arguments that run a server command as the owner of ``root``'s cluster."""
    if os.geteuid() != 0:
        return {}
    account = pwd.getpwnam(SUPERUSER)
    os.chown(root, account.pw_uid, account.pw_gid)
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def start_postgres(root: Path, database: str, timeout: float = 60.0) -> Service:
    """A new cluster in ``root`` (whose parents others may traverse) with an empty ``database``,
    served on 127.0.0.1:<free port> and ready when the database accepts a connection."""
    bin_dir = Path(installed(POSTGRES_PACKAGE, _bin_dir))
    root.mkdir(parents=True, exist_ok=True)
    owner = _as_owner(root)
    data, log_path = root / "data", root / "postgres.log"
    subprocess.run(
        [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "-A", "trust", "--no-sync"],
        check=True,
        capture_output=True,
        **owner,
    )
    port = free_port()
    argv = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(root)]
    argv += ["-c", f"listen_addresses={LOOPBACK}"]
    for setting in FAST_SETTINGS:
        argv += ["-c", setting]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **owner
        )
    service = Service(name="postgres", process=process, port=port, log_path=log_path)
    try:
        _create_when_ready(service, database, timeout)
    except BaseException:
        service.stop()
        raise
    return service


def _create_when_ready(service: Service, database: str, timeout: float) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        if service.process.poll() is not None:
            raise RuntimeError(f"postgres exited with {service.process.returncode}:\n{service.log_tail()}")
        try:
            connection = psycopg2.connect(host=LOOPBACK, port=service.port, user=SUPERUSER, dbname="postgres")
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not accept connections within {timeout:.0f}s") from None
            time.sleep(0.1)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{database}"')
    finally:
        connection.close()


def postgres_url(service: Service, database: str) -> str:
    """The SQLAlchemy URL of ``database`` (Airflow derives its asyncpg URL from it)."""
    return f"postgresql+psycopg2://{SUPERUSER}@{LOOPBACK}:{service.port}/{database}"
