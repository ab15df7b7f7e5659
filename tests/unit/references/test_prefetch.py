import threading
import time
from collections.abc import Iterator

import pytest

from include.roboflow_batch.references.prefetch import prefetched


def test_items_arrive_in_order() -> None:
    assert list(prefetched(iter(range(100)), depth=3)) == list(range(100))


def test_listing_errors_reach_the_consumer() -> None:
    def pages() -> Iterator[int]:
        yield 1
        raise ConnectionError("listing failed")

    consumed = []
    with pytest.raises(ConnectionError, match="listing failed"):
        for item in prefetched(pages()):
            consumed.append(item)
    assert consumed == [1]


def test_producer_runs_at_most_depth_pages_ahead() -> None:
    produced = []

    def pages() -> Iterator[int]:
        for i in range(100):
            produced.append(i)
            yield i

    stream = prefetched(pages(), depth=2)
    assert next(stream) == 0
    time.sleep(0.3)
    # One page handed out, two queued, one waiting to be queued.
    assert len(produced) <= 4
    stream.close()


def test_closing_early_stops_the_background_thread() -> None:
    def endless() -> Iterator[int]:
        i = 0
        while True:
            i += 1
            yield i

    before = threading.active_count()
    stream = prefetched(endless(), depth=1)
    next(stream)
    stream.close()
    deadline = time.monotonic() + 2
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before
