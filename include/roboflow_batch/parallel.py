"""Running one function over many small items on a few threads, stopping at the first failure.

The one thread engine of the project: the export's downloads and the local uploads of an ingest.
Each thread takes the next item from a shared iterator until none is left, so the cost per item is
one lock and one call: no future, condition or wake-up of a waiting thread per file, which matters
when an export moves tens of thousands of files of a few KiB each.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


class ItemFailedError(Exception, Generic[Item]):
    """``work(item)`` raised ``__cause__``; carries the item so the caller can name it."""

    def __init__(self, item: Item) -> None:
        super().__init__("a parallel item failed")
        self.item = item


def run_parallel(
    items: Iterable[Item],
    work: Callable[[Item], Outcome],
    workers: int,
    *,
    on_done: Callable[[int], None] | None = None,
    on_result: Callable[[Item, Outcome], None] | None = None,
    name: str = "parallel",
) -> list[Outcome]:
    """``work`` applied to every item on ``workers`` threads; outcomes in completion order.

    The first exception stops every thread from taking further items and is raised once all threads
    have finished (items already running end, and count as completed), wrapped in
    :class:`ItemFailedError` (the original is its ``__cause__``). Under a lock, one call at a time:
    ``on_result(item, outcome)`` for each completed item, then ``on_done(count)`` with the number of
    items completed so far.
    """
    if workers < 1:
        raise ValueError(f"workers must be a positive number, got {workers!r}")
    source = iter(items)
    lock = threading.Lock()
    stop = threading.Event()
    outcomes: list[Outcome] = []
    failures: list[ItemFailedError[Item]] = []

    def next_item() -> tuple[bool, Item | None]:
        with lock:
            if stop.is_set():
                return False, None
            for item in source:
                return True, item
            return False, None

    def loop() -> None:
        item: Item | None = None
        try:
            while True:
                found, item = next_item()
                if not found:
                    return
                outcome = work(item)  # type: ignore[arg-type]
                with lock:
                    outcomes.append(outcome)
                    if on_result is not None:
                        on_result(item, outcome)  # type: ignore[arg-type]
                    if on_done is not None:
                        on_done(len(outcomes))
        except BaseException as exc:
            failure: ItemFailedError[Item] = ItemFailedError(item)  # type: ignore[arg-type]
            failure.__cause__ = exc
            with lock:
                failures.append(failure)
            stop.set()

    threads = [threading.Thread(target=loop, name=f"{name}-{n}", daemon=True) for n in range(workers)]
    run_threads(threads, stop)
    if failures:
        raise failures[0]
    return outcomes


def run_threads(threads: Sequence[threading.Thread], stop: threading.Event) -> None:
    """Start ``threads`` and wait for them all.

    Interrupted (the task is being stopped), ``stop`` is set so that no new item starts; the running
    items end, then the interruption is raised.
    """
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:
        stop.set()
        for thread in threads:
            thread.join()
        raise
