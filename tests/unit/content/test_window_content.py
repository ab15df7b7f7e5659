"""A window's content against the record: left out as already processed, or sent and noted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from airflow.sdk import ObjectStoragePath

from include.roboflow_batch.content.identity import as_digests, content_digest
from include.roboflow_batch.content.record import ContentRecord, RecordIndex, WindowRef
from include.roboflow_batch.content.window_content import (
    LOOKUP_BLOCK,
    ContentFilter,
    ContentListError,
    content_line,
    read_sent_content,
)

EARLIER = WindowRef("2026-03-01T04:00:00+00:00", "2026-03-01T05:00:00+00:00")


def digest(n: int) -> bytes:
    return content_digest(f"sha256:{n}", n)


def index_of(tmp_path: Path, *digests: bytes) -> RecordIndex:
    record = ContentRecord(ObjectStoragePath(f"file://{tmp_path}/record"))
    record.add_window(EARLIER, as_digests(list(digests)))
    return record.load()


def test_processed_objects_are_left_out_with_their_window_and_the_rest_is_noted_in_order(
    tmp_path: Path,
) -> None:
    processed: list[tuple[str, int, WindowRef]] = []
    sent: list[tuple[str, bytes]] = []
    content = ContentFilter(
        index_of(tmp_path, digest(2), digest(4)), lambda *a: processed.append(a), lambda *a: sent.append(a)
    )
    selected = [(f"k{n}", f"n{n}", n, digest(n)) for n in range(1, 6)] + [("k9", "n9", 9, None)]

    assert list(content.unprocessed(selected)) == [("k1", "n1"), ("k3", "n3"), ("k5", "n5"), ("k9", "n9")]
    assert processed == [("k2", 2, EARLIER), ("k4", 4, EARLIER)]
    # An object without an identity is sent but not noted: it can never be recorded.
    assert sent == [("n1", digest(1)), ("n3", digest(3)), ("n5", digest(5))]
    assert content.processed == 2


def test_lookups_span_several_blocks(tmp_path: Path) -> None:
    count = 2 * LOOKUP_BLOCK + 7
    content = ContentFilter(
        index_of(tmp_path, *(digest(n) for n in range(0, count, 2))), lambda *a: None, lambda *a: None
    )
    kept = list(content.unprocessed((f"k{n}", f"n{n}", n, digest(n)) for n in range(count)))
    assert [key for key, _ in kept] == [f"k{n}" for n in range(1, count, 2)]


def test_the_content_list_minus_failed_objects_is_what_gets_recorded(tmp_path: Path) -> None:
    path = tmp_path / "refs.content.jsonl"
    lines = [content_line(f"n{n}", digest(n)) for n in range(4)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "\n")
    digests = read_sent_content(path.as_uri(), None, leave_out={"n1", "n3"})
    assert np.array_equal(digests, as_digests([digest(0), digest(2)]))


@pytest.mark.parametrize(
    "line",
    ['{"name": "a"}', '{"name": "a", "content": "zz"}', '{"name": 3, "content": "00"}', "[1, 2]", "{"],
)
def test_a_damaged_content_list_names_the_line(tmp_path: Path, line: str) -> None:
    path = tmp_path / "refs.content.jsonl"
    path.write_text(json.dumps(content_line("ok", digest(1))) + "\n" + line + "\n")
    with pytest.raises(ContentListError, match=rf"{path.name} line 2: not a \{{name, content\}} line"):
        read_sent_content(path.as_uri(), None, set())


def test_a_missing_content_list_is_named(tmp_path: Path) -> None:
    with pytest.raises(ContentListError, match="does not exist"):
        read_sent_content((tmp_path / "gone.jsonl").as_uri(), None, set())
