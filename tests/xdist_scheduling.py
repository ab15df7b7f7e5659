"""How the suite is spread over pytest-xdist workers.

Each test is a unit of its own, except the folders in ``WORKER_GROUPS``: their tests share a fixture
that does something once for all of them (the hook checks' four DAG runs on the shared Airflow; the
contract suite's CLI fork server and generated media), so the whole folder goes to one worker. Slow
tests go first (``order``), so that none of them starts last and forms the tail of the run.

The grouping is by path, decided in the controller: xdist's own ``loadgroup`` reads the
``xdist_group`` mark from a suffix it writes into node ids, which pytest 9.2's structured node ids
no longer carry, so that grouping silently stopped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

WORKER_GROUPS = {
    "tests/integration/hooks/": "hook-checks",
    "tests/contract/": "contract",
}


def unit_of(nodeid: str) -> str:
    """The unit of work ``nodeid`` belongs to: its folder's group, or the test alone."""
    for prefix, group in WORKER_GROUPS.items():
        if nodeid.startswith(prefix):
            return group
    return nodeid


class GroupedScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with ``unit_of`` as the scope, in collection order.

    A worker gets one unit, then a second, then one more each time a test ends while it has two or
    fewer left.
    """

    def __init__(self, config: pytest.Config, log: object = None) -> None:
        config.option.loadscopereorder = False  # keep the order ``order`` chose
        super().__init__(config, log)  # type: ignore[arg-type]

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)


DURATIONS_KEY = "roboflow/test-seconds"
#: The slow tests' times on the reference 2-core machine, for a run without a cache of its own (a
#: fresh clone, CI): without them every slow test counts as 0 s and the longest may start last.
REFERENCE_SECONDS = Path(__file__).with_name("slow_test_seconds.json")


def known_seconds(cached: dict[str, float]) -> dict[str, float]:
    """Each test's time: this checkout's last run's where known, else the reference machine's."""
    try:
        reference = json.loads(REFERENCE_SECONDS.read_text())
    except (OSError, ValueError):
        reference = {}
    return {**reference, **cached}


def order(items: list[pytest.Item], workers: int, seconds: dict[str, float]) -> list[pytest.Item]:
    """Slow units first, the longest (by ``seconds``, a previous run's times, when known) before the
    others: one per worker, then as many quick ones (each worker's second unit, which waits behind its
    slow one), then the other slow ones, which go to the first workers that free up."""
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        units.setdefault(unit_of(item.nodeid), []).append(item)
    slow = [unit for unit in units.values() if any(i.get_closest_marker("slow") for i in unit)]
    quick = [unit for unit in units.values() if not any(i.get_closest_marker("slow") for i in unit)]
    slow.sort(key=lambda unit: -sum(seconds.get(item.nodeid, 0.0) for item in unit))
    ordered = slow[:workers] + quick[:workers] + slow[workers:] + quick[workers:]
    return [item for unit in ordered for item in unit]
