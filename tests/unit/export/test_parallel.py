"""Many small transfers on a few threads: every item once, at most ``workers`` at a time, and the first
failure stops the rest and names its item."""

from __future__ import annotations

import threading
import time

import pytest

from include.roboflow_batch.parallel import ItemFailedError, run_parallel


def test_every_item_is_worked_on_exactly_once_by_at_most_the_given_threads() -> None:
    running, peak, lock = 0, 0, threading.Lock()
    seen: list[int] = []

    def work(item: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            seen.append(item)
        time.sleep(0.001)
        with lock:
            running -= 1
        return item * 2

    outcomes = run_parallel(range(200), work, 4)
    assert sorted(outcomes) == [n * 2 for n in range(200)]
    assert sorted(seen) == list(range(200))
    assert 1 < peak <= 4


def test_progress_is_reported_with_the_running_count() -> None:
    counts: list[int] = []
    run_parallel(range(50), lambda n: n, 3, on_done=counts.append)
    assert counts == list(range(1, 51))


def test_the_first_failure_stops_new_items_and_names_the_failed_one() -> None:
    started: list[int] = []

    def work(item: int) -> int:
        started.append(item)
        if item == 5:
            raise OSError("disk full")
        return item

    with pytest.raises(ItemFailedError) as failure:
        run_parallel(range(10_000), work, 2)
    assert failure.value.item == 5
    assert isinstance(failure.value.__cause__, OSError)
    assert len(started) < 100  # the other thread finished at most the item it had taken


def test_items_are_taken_lazily_from_the_iterable() -> None:
    produced: list[int] = []

    def items() -> object:
        for n in range(1000):
            produced.append(n)
            yield n

    def work(item: int) -> int:
        if item == 3:
            raise ValueError("stop")
        return item

    with pytest.raises(ItemFailedError):
        run_parallel(items(), work, 1)  # type: ignore[arg-type]
    assert produced == [0, 1, 2, 3]


def test_no_items_and_bad_worker_counts() -> None:
    assert run_parallel([], lambda n: n, 8) == []
    with pytest.raises(ValueError, match="workers"):
        run_parallel([1], lambda n: n, 0)


def test_each_completed_item_is_reported_once_one_call_at_a_time_even_after_a_failure() -> None:
    reported: list[tuple[int, int]] = []
    inside, overlapped = threading.Lock(), []
    release = threading.Event()

    def work(item: int) -> int:
        if item == 0:
            release.wait(5)  # still running when item 1 fails: it ends, and is reported
            return 0
        if item == 1:
            release.set()
            raise OSError("refused")
        return item

    def on_result(item: int, outcome: int) -> None:
        if not inside.acquire(blocking=False):
            overlapped.append(item)
            return
        try:
            reported.append((item, outcome))
        finally:
            inside.release()

    with pytest.raises(ItemFailedError) as failure:
        run_parallel(range(2), work, 2, on_result=on_result)
    assert failure.value.item == 1
    assert reported == [(0, 0)] and not overlapped
