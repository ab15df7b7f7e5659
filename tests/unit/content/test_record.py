"""The processed-content record: append-only segments, lookups, compaction, damaged segments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from airflow.sdk import ObjectStoragePath

from include.roboflow_batch.content import record as record_module
from include.roboflow_batch.content.identity import (
    as_digests,
    content_digest,
    gcs_content,
    local_content,
    s3_content,
)
from include.roboflow_batch.content.record import ContentRecord, RecordError, WindowRef

W1 = WindowRef("2026-03-01T04:00:00+00:00", "2026-03-01T05:00:00+00:00")
W2 = WindowRef("2026-03-01T05:00:00+00:00", "2026-03-01T06:00:00+00:00")
W3 = WindowRef("2026-03-01T06:00:00+00:00", "2026-03-01T07:00:00+00:00")


def digest(n: int) -> bytes:
    return content_digest(f"s3-etag:{n:032x}", 1000 + n)


def record_at(tmp_path: Path) -> ContentRecord:
    return ContentRecord(ObjectStoragePath(f"file://{tmp_path}/processed-content"))


def test_identities_per_store() -> None:
    assert s3_content('"9B2CF535F27731C974343645A3985328"') == "s3-etag:9b2cf535f27731c974343645a3985328"
    assert s3_content('"d41d8cd98f00b204e9800998ecf8427e-3"').endswith("-3")  # multipart: part count kept
    assert s3_content(None) is None and s3_content('""') is None
    assert gcs_content("a.jpg", "1B2M2Y8AsgTpgAmY7PhCfg==", "AAAAAA==") == "gcs-md5:1B2M2Y8AsgTpgAmY7PhCfg=="
    # Composite objects have a CRC32C only: too short to stand alone, so it is tied to the name.
    assert gcs_content("a.jpg", None, "AAAAAA==") != gcs_content("b.jpg", None, "AAAAAA==")
    assert gcs_content("a.jpg", None, None) is None
    assert content_digest(local_content("ab"), 1) != content_digest(local_content("ab"), 2)
    assert len(content_digest("s3-etag:x", 1)) == 16


def test_an_empty_or_missing_record_knows_nothing(tmp_path: Path) -> None:
    index = record_at(tmp_path).load(W1)
    assert index.size == 0
    assert index.lookup(as_digests([digest(1)])) == [None]


def test_a_window_s_content_is_found_by_later_windows_but_not_by_itself(tmp_path: Path) -> None:
    record = record_at(tmp_path)
    record.add_window(W1, as_digests([digest(1), digest(2), digest(2)]), run_id="r1")
    record.add_window(W2, as_digests([digest(3)]))
    probe = as_digests([digest(1), digest(3), digest(4), digest(2)])

    assert record.load(W3).lookup(probe) == [W1, W2, None, W1]
    # A re-run of window 1 sends its own objects again (into its own batch and job).
    assert record.load(W1).lookup(probe) == [None, W2, None, None]
    assert record.load(W3).size == 3


def test_writing_the_same_window_again_gives_the_same_object(tmp_path: Path) -> None:
    record = record_at(tmp_path)
    first = record.add_window(W1, as_digests([digest(2), digest(1)]))
    again = record.add_window(W1, as_digests([digest(1), digest(2)]))
    other = record.add_window(W1, as_digests([digest(5)]))
    assert first == again != other
    names = sorted(p.name for p in (tmp_path / "processed-content" / "segments").iterdir())
    assert len(names) == 2 and all(n.startswith("w-20260301t040000--20260301t050000-") for n in names)
    assert record.load(W2).lookup(as_digests([digest(1), digest(5)])) == [W1, W1]


def test_compaction_keeps_every_entry_and_the_earliest_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record_module, "COMPACT_AFTER", 3)
    record = record_at(tmp_path)
    windows = [
        WindowRef(f"2026-03-0{day}T00:00:00+00:00", f"2026-03-0{day + 1}T00:00:00+00:00")
        for day in range(1, 9)
    ]
    for day, window in enumerate(windows):
        record.add_window(window, as_digests([digest(day), digest(100)]))  # digest 100 is in every window
    folder = tmp_path / "processed-content" / "segments"
    compactions = sorted(p.name for p in folder.iterdir() if p.name.startswith("c-"))
    assert len(compactions) == 2  # after the 4th and the 8th window
    index = record.load(WindowRef("2026-04-01T00:00:00+00:00", "2026-04-02T00:00:00+00:00"))
    # The newer compaction covers the older one and every window so far: one segment to read.
    assert len(index.tables) == 1 and len(compactions) == 2
    found = index.lookup(as_digests([digest(day) for day in range(8)] + [digest(100), digest(999)]))
    assert found == [*windows, windows[0], None]
    # A window's own content still does not count against it after compaction.
    assert record.load(windows[3]).lookup(as_digests([digest(3), digest(100)])) == [None, windows[0]]


def test_a_damaged_segment_is_named_with_what_to_do(tmp_path: Path) -> None:
    record = record_at(tmp_path)
    uri = record.add_window(W1, as_digests([digest(1)]))
    Path(uri.removeprefix("file://")).write_bytes(b"not a segment")
    with pytest.raises(RecordError) as raised:
        record.load(W2)
    message = str(raised.value)
    assert uri in message and "unreadable" in message and "Move it away" in message


def test_unsorted_digests_are_refused(tmp_path: Path) -> None:
    record = record_at(tmp_path)
    uri = record.add_window(W1, as_digests([digest(1), digest(2)]))
    path = Path(uri.removeprefix("file://"))
    with np.load(path) as archive:
        meta, digests = archive["meta"], archive["digests"]
    np.savez(path.open("wb"), digests=digests[::-1], meta=meta)
    with pytest.raises(RecordError, match="not sorted and unique"):
        record.load(W2)


def test_temporary_and_foreign_files_are_ignored(tmp_path: Path) -> None:
    record = record_at(tmp_path)
    record.add_window(W1, as_digests([digest(1)]))
    folder = tmp_path / "processed-content" / "segments"
    (folder / ".w-x.npz.1234.partial").write_bytes(b"half")
    (folder / "README.txt").write_text("notes")
    assert record.load(W2).lookup(as_digests([digest(1)])) == [W1]


def test_digests_sharing_their_first_half_are_told_apart(tmp_path: Path) -> None:
    record = record_at(tmp_path)
    prefix = b"\x7f" * 8
    recorded = [prefix + bytes([0] * 7 + [n]) for n in (1, 3, 5)]
    record.add_window(W1, as_digests([*recorded, digest(1)]))
    probe = [prefix + bytes([0] * 7 + [n]) for n in range(7)] + [digest(1)]
    assert record.load(W2).lookup(as_digests(probe)) == [None, W1, None, W1, None, W1, None, W1]
