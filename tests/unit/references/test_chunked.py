"""Splitting a listing into references files of at most N lines, published only when complete."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from include.roboflow_batch.references.chunked import TooManyChunksError, write_chunked_references
from include.roboflow_batch.references.naming import key_for_name
from include.roboflow_batch.references.objects import StoredObject
from include.roboflow_batch.references.window import SelectionWindow
from tests.unit.references.test_generate import EXPIRY, START, fake_sign


def listing(count: int, fail_after: int | None = None) -> Iterator[StoredObject]:
    for i in range(count):
        if fail_after is not None and i == fail_after:
            raise ConnectionError("listing broke off")
        yield StoredObject(f"cams/frame-{i:03d}.jpg", 100, START)
    yield StoredObject("cams/readme.txt", 10, START)  # not an image: never referenced


def run(
    tmp_path: Path, objects: Iterator[StoredObject], per_file: int, max_files: int = 1024, **options: Any
):
    destination = ObjectStoragePath(f"file://{tmp_path}/refs/window.jsonl")
    return write_chunked_references(
        objects,
        fake_sign,
        destination,
        max_objects_per_file=per_file,
        max_files=max_files,
        source="s3://b/cams/",
        media_type="images",
        window=SelectionWindow(),
        expiry=EXPIRY,
        **options,
    )


def names(path: Path) -> list[str]:
    return [key_for_name(json.loads(line)["name"]) for line in path.read_text().splitlines()]


def test_a_window_over_the_limit_is_split_into_numbered_files_in_listing_order(tmp_path: Path) -> None:
    summary = run(tmp_path, listing(40), per_file=15)

    files = [tmp_path / "refs" / f"window.chunk-000{i}.jsonl" for i in range(3)]
    assert [chunk.to_dict() for chunk in summary.chunks] == [
        {"index": i, "references_uri": path.as_uri(), "count": count}
        for i, (path, count) in enumerate(zip(files, [15, 15, 10], strict=True))
    ]
    assert [names(path) for path in files] == [
        [f"cams/frame-{i:03d}.jpg" for i in range(start, min(start + 15, 40))] for start in (0, 15, 30)
    ]
    assert summary.count == 40
    assert summary.references_uri is None  # several files: the chunks name them
    # The readme is skipped, and listed once for the whole window next to the configured name.
    skipped = tmp_path / "refs" / "window.skipped.jsonl"
    assert sorted(p.name for p in (tmp_path / "refs").iterdir()) == sorted(
        [p.name for p in files] + [skipped.name]
    )
    assert [json.loads(line)["key"] for line in skipped.read_text().splitlines()] == ["cams/readme.txt"]
    assert summary.skipped_uri == skipped.as_uri()
    assert summary.to_dict()["chunks"][2]["count"] == 10


def test_a_window_within_the_limit_keeps_the_configured_file_name(tmp_path: Path) -> None:
    summary = run(tmp_path, listing(15), per_file=15)

    path = tmp_path / "refs" / "window.jsonl"
    assert [chunk.to_dict() for chunk in summary.chunks] == [
        {"index": 0, "references_uri": path.as_uri(), "count": 15}
    ]
    assert summary.references_uri == path.as_uri()
    assert len(names(path)) == 15
    # Exactly what an unchunked listing writes: the references and the skipped readme's list.
    assert sorted(p.name for p in (tmp_path / "refs").iterdir()) == ["window.jsonl", "window.skipped.jsonl"]


def test_nothing_selected_publishes_no_references_but_the_skipped_list(tmp_path: Path) -> None:
    summary = run(tmp_path, listing(0), per_file=15)

    assert summary.count == 0 and summary.chunks == [] and summary.references_uri is None
    # The readme is all the window holds: it is still accounted for.
    skipped = tmp_path / "refs" / "window.skipped.jsonl"
    assert [p for p in (tmp_path / "refs").rglob("*") if p.is_file()] == [skipped]
    assert summary.skipped_uri == skipped.as_uri()
    assert json.loads(skipped.read_text()) == {
        "key": "cams/readme.txt",
        "reason": "unsupported-file-type",
        "size": 10,
    }


def test_an_empty_window_publishes_nothing(tmp_path: Path) -> None:
    summary = run(tmp_path, iter([]), per_file=15)

    assert summary.count == 0 and summary.skipped_uri is None
    assert not [p for p in (tmp_path / "refs").rglob("*") if p.is_file()]


def test_more_files_than_may_be_mapped_is_refused_before_anything_is_published(tmp_path: Path) -> None:
    with pytest.raises(TooManyChunksError, match=r"more than 2 x 15 = 30 images .*max_batch_objects"):
        run(tmp_path, listing(40), per_file=15, max_files=2)

    assert not any((tmp_path / "refs").iterdir())


def test_a_listing_that_breaks_off_leaves_no_file_behind(tmp_path: Path) -> None:
    with pytest.raises(ConnectionError):
        run(tmp_path, listing(40, fail_after=35), per_file=15)

    assert not any((tmp_path / "refs").iterdir())


@pytest.mark.parametrize(("per_file", "max_files"), [(0, 10), (10, 0)])
def test_limits_must_be_positive(tmp_path: Path, per_file: int, max_files: int) -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        run(tmp_path, listing(3), per_file=per_file, max_files=max_files)


class ManyAtOnceSigner:
    """A signer that signs streams of keys (as the GCS key-file signer does on every core)."""

    def __init__(self) -> None:
        self.streamed: list[str] = []
        self.closed = False

    def __call__(self, key: str) -> str:
        raise AssertionError("a signer that signs many at once is not asked one key at a time")

    def sign_many(self, keys: Iterator[str]) -> Iterator[str]:
        for key in keys:
            self.streamed.append(key)
            yield f"https://signed.example/{key}?sig=1"

    def close(self) -> None:
        self.closed = True


def test_chunked_windows_stream_their_keys_to_a_signer_that_signs_many(tmp_path: Path) -> None:
    signer = ManyAtOnceSigner()
    summary = write_chunked_references(
        listing(40),
        signer,
        ObjectStoragePath(f"file://{tmp_path}/refs/window.jsonl"),
        max_objects_per_file=15,
        max_files=1024,
        source="gs://b/cams/",
        media_type="images",
        window=SelectionWindow(),
        expiry=EXPIRY,
    )
    assert summary.count == 40 and len(summary.chunks) == 3
    assert signer.streamed == [f"cams/frame-{i:03d}.jpg" for i in range(40)]
    assert signer.closed  # its worker processes are released when the window is written
    lines = [
        json.loads(line) for line in (tmp_path / "refs" / "window.chunk-0002.jsonl").read_text().splitlines()
    ]
    assert lines[0] == {
        "name": "cams__frame-030.jpg",
        "url": "https://signed.example/cams/frame-030.jpg?sig=1",
    }


def test_a_chunked_window_lists_the_content_it_sends_once(tmp_path: Path) -> None:
    from include.roboflow_batch.content.record import RecordIndex

    objects = (StoredObject(f"cams/frame-{i:03d}.jpg", 100, START, f"s3-etag:{i:03d}") for i in range(5))
    summary = run(tmp_path, objects, per_file=2, max_files=10, record=RecordIndex())
    assert len(summary.chunks) == 3
    lines = (tmp_path / "refs" / "window.content.jsonl").read_text().splitlines()
    assert [json.loads(line)["name"] for line in lines] == [f"cams__frame-{i:03d}.jpg" for i in range(5)]
