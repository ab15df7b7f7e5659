"""A run without a cache of its own (a fresh clone, CI) still starts the longest slow tests first."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tests.xdist_scheduling import known_seconds, order

SOAK = (
    "tests/integration/pipeline/test_soak.py::"
    "test_soak_eight_intervals_with_faults_an_abort_and_a_changed_definition"
)


def item(nodeid: str, slow: bool) -> Any:
    return SimpleNamespace(nodeid=nodeid, get_closest_marker=lambda name: (name == "slow" and slow) or None)


def test_without_a_cache_the_reference_times_put_the_soak_first() -> None:
    quick = [item(f"tests/unit/test_{n}.py::test_it", slow=False) for n in range(6)]
    slow = [item("tests/integration/hooks/test_a.py::test_it", slow=True), item(SOAK, slow=True)]

    ordered = order([*quick, *slow], workers=2, seconds=known_seconds({}))

    assert ordered[0].nodeid == SOAK


def test_this_checkouts_own_times_win_over_the_reference() -> None:
    assert known_seconds({SOAK: 1.0})[SOAK] == 1.0
    assert known_seconds({})[SOAK] > 100
