"""Servers the dev stack takes from Debian packages, installed with apt-get when missing (CI runs as
root on a fresh machine)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable


def installed(package: str, locate: Callable[[], str | None]) -> str:
    """What ``locate()`` finds (a binary or a folder of them), installing ``package`` first if needed."""
    found = locate()
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError(f"{package} is missing and installing it needs root: apt-get install -y {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", package]):
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    found = locate()
    if not found:
        raise RuntimeError(f"apt-get installed {package} but what it should provide is still missing")
    return found
