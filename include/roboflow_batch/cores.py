"""How many cores this process may really use, for sizing its worker processes.

``os.cpu_count()`` counts the host's cores; a container or a ``taskset`` may give the process fewer
(its CPU affinity), and a cgroup CPU quota (Kubernetes ``limits.cpu``, ``docker --cpus``) caps the
time it gets. Starting a worker per host core on a 64-core node limited to 2 CPUs would only add
start-up cost and contention.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

# cgroup v2 first, then v1.
CGROUP_V2_MAX = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
CGROUP_V1_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def cgroup_cpu_quota() -> float | None:
    """CPUs' worth of time the cgroup allows (``1.5`` for 150 ms per 100 ms), None when unlimited."""
    try:
        quota, period = CGROUP_V2_MAX.read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota, period = CGROUP_V1_QUOTA.read_text().strip(), CGROUP_V1_PERIOD.read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1"):
        return None
    try:
        allowed = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
    return allowed if allowed > 0 else None


def usable_cores() -> int:
    """Cores this process may run on (its affinity), capped by the cgroup quota; at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)
