import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from include.roboflow_batch.media import MAX_IMAGE_BYTES
from include.roboflow_batch.references.expiry import EffectiveExpiry
from include.roboflow_batch.references.generate import write_references
from include.roboflow_batch.references.naming import key_for_name
from include.roboflow_batch.references.objects import StoredObject
from include.roboflow_batch.references.window import SelectionWindow

START = datetime(2026, 3, 1, 4, tzinfo=UTC)
END = START + timedelta(hours=1)
EXPIRY = EffectiveExpiry(signed_at=START, seconds=3600, requested_seconds=3600)


def fake_sign(key: str) -> str:
    return f"https://store.example/{key}?X-Signature=secret-{len(key)}"


def obj(key: str, size: int = 100, at: datetime = START) -> StoredObject:
    return StoredObject(key, size, at)


def run(tmp_path: Path, objects: list[StoredObject] | Iterator[StoredObject], **kwargs: object):
    destination = ObjectStoragePath(f"file://{tmp_path}/out/refs.jsonl")
    options = {"media_type": "images", "window": SelectionWindow(START, END)} | kwargs
    summary = write_references(objects, fake_sign, destination, source="s3://b/p/", expiry=EXPIRY, **options)
    return summary, tmp_path / "out" / "refs.jsonl"


def read_lines(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_writes_one_line_per_selected_object(tmp_path: Path) -> None:
    objects = [obj("p/a.jpg"), obj("p/sub dir/b.PNG"), obj("p/notes.txt"), obj("p/clip.mp4"), obj("p/dir/")]
    summary, path = run(tmp_path, objects)
    lines = read_lines(path)
    assert [key_for_name(line["name"]) for line in lines] == ["p/a.jpg", "p/sub dir/b.PNG"]
    assert [line["url"] for line in lines] == [fake_sign("p/a.jpg"), fake_sign("p/sub dir/b.PNG")]
    assert summary.count == 2
    assert summary.references_uri == f"file://{tmp_path}/out/refs.jsonl"


def test_only_objects_modified_in_the_window_are_kept(tmp_path: Path) -> None:
    objects = [
        obj("before.jpg", at=START - timedelta(seconds=1)),
        obj("at-start.jpg", at=START),
        obj("inside.jpg", at=START + timedelta(minutes=30)),
        obj("at-end.jpg", at=END),
    ]
    _, path = run(tmp_path, objects)
    assert [key_for_name(line["name"]) for line in read_lines(path)] == ["at-start.jpg", "inside.jpg"]


def test_select_all_ignores_modification_times(tmp_path: Path) -> None:
    objects = [obj("old.jpg", at=START - timedelta(days=400)), obj("new.jpg", at=END + timedelta(days=1))]
    summary, _ = run(tmp_path, objects, window=SelectionWindow())
    assert summary.count == 2


def test_oversize_and_empty_images_are_reported_not_sent(tmp_path: Path) -> None:
    objects = [
        obj("ok.jpg", size=MAX_IMAGE_BYTES),
        obj("big.jpg", size=MAX_IMAGE_BYTES + 1),
        obj("empty.png", size=0),
        obj("d/" * 130 + "long.jpg"),
    ]
    summary, path = run(tmp_path, objects)
    assert [line["name"] for line in read_lines(path)] == ["ok.jpg"]
    result = summary.to_dict()
    assert result["skipped"] == {"empty-file": 1, "file-size-limit-exceeded": 1, "name-too-long": 1}
    assert result["skipped_count"] == 3
    assert {"key": "big.jpg", "reason": "file-size-limit-exceeded"} in result["skipped_examples"]


def test_videos_have_no_size_limit(tmp_path: Path) -> None:
    summary, _ = run(tmp_path, [obj("v.mp4", size=5 * MAX_IMAGE_BYTES)], media_type="videos")
    assert summary.count == 1


def test_summary_holds_no_url_and_reports_the_expiry(tmp_path: Path) -> None:
    summary, _ = run(tmp_path, [obj("a.jpg"), obj("huge.jpg", size=MAX_IMAGE_BYTES * 2)])
    result = summary.to_dict()
    assert "secret" not in json.dumps(result)
    assert result["expires_at"] == "2026-03-01T05:00:00+00:00"
    assert result["expiry_seconds"] == 3600
    assert set(result) == {
        "references_uri",
        "source",
        "media_type",
        "count",
        "skipped_count",
        "skipped",
        "skipped_examples",
        "skipped_uri",
        "content_uri",
        "expires_at",
        "expiry_seconds",
    }


def test_nothing_selected_leaves_the_references_untouched_and_lists_what_was_skipped(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "refs.jsonl").write_text("previous run\n")
    summary, path = run(tmp_path, [obj("notes.txt"), obj("late.jpg", at=END)])
    assert summary.count == 0
    assert summary.references_uri is None
    assert path.read_text() == "previous run\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["refs.jsonl", "refs.skipped.jsonl"]
    assert [(e["key"], e["reason"]) for e in read_lines(path.with_name("refs.skipped.jsonl"))] == [
        ("notes.txt", "unsupported-file-type")
    ]


def test_a_failure_midway_leaves_no_partial_file(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "refs.jsonl").write_text("previous run\n")

    def listing() -> Iterator[StoredObject]:
        for i in range(5000):
            yield obj(f"img-{i}.jpg")
        raise ConnectionError("listing interrupted")

    with pytest.raises(ConnectionError):
        run(tmp_path, listing())
    assert (tmp_path / "out" / "refs.jsonl").read_text() == "previous run\n"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["refs.jsonl"]


def test_a_rerun_replaces_the_previous_file(tmp_path: Path) -> None:
    run(tmp_path, [obj("a.jpg"), obj("b.jpg")])
    _, path = run(tmp_path, [obj("c.jpg")])
    assert [line["name"] for line in read_lines(path)] == ["c.jpg"]


def test_listing_is_streamed_not_collected(tmp_path: Path) -> None:
    signed: list[str] = []
    lag: list[int] = []

    def listing() -> Iterator[StoredObject]:
        for i in range(20_000):
            lag.append(i - len(signed))
            yield obj(f"img-{i}.jpg")

    def sign(key: str) -> str:
        signed.append(key)
        return fake_sign(key)

    destination = ObjectStoragePath(f"file://{tmp_path}/refs.jsonl")
    write_references(
        listing(), sign, destination, source="s", media_type="images", window=SelectionWindow(), expiry=EXPIRY
    )
    # Each object is signed before the next one is even listed.
    assert max(lag) == 0
    assert len(signed) == 20_000


def test_every_skipped_object_of_the_window_is_listed_with_its_reason(tmp_path: Path) -> None:
    many_empty = [obj(f"empty-{i:03d}.jpg", size=0) for i in range(60)]  # more than the examples
    objects = [
        obj("ok.jpg"),
        obj("big.jpg", size=MAX_IMAGE_BYTES + 1),
        obj("notes.txt"),
        obj("clip.mp4"),  # a video in an image pipeline
        obj("late.gif", at=END),  # outside the window: not seen by this run
        obj("folder/"),
        *many_empty,
    ]
    summary, path = run(tmp_path, objects)

    skipped_file = path.with_name("refs.skipped.jsonl") if path.name == "refs.jsonl" else None
    assert summary.skipped_uri is not None and skipped_file is not None
    assert summary.skipped_uri == skipped_file.as_uri()
    entries = read_lines(skipped_file)
    assert {(e["key"], e["reason"]) for e in entries} == {
        ("big.jpg", "file-size-limit-exceeded"),
        ("notes.txt", "unsupported-file-type"),
        ("clip.mp4", "unsupported-file-type"),
        *((o.key, "empty-file") for o in many_empty),
    }
    assert summary.skipped_count == len(entries) == 63
    assert len(summary.to_dict()["skipped_examples"]) < len(entries)  # XCom stays small


def test_no_skipped_file_when_nothing_was_skipped(tmp_path: Path) -> None:
    summary, path = run(tmp_path, [obj("a.jpg")])

    assert summary.skipped_uri is None
    assert not path.with_name("refs.skipped.jsonl").exists()


def test_content_another_window_processed_is_skipped_with_that_window(tmp_path: Path) -> None:
    from include.roboflow_batch.content.identity import as_digests, content_digest
    from include.roboflow_batch.content.record import ContentRecord, WindowRef

    earlier = WindowRef("2026-03-01T03:00:00+00:00", "2026-03-01T04:00:00+00:00")
    record = ContentRecord(ObjectStoragePath(f"file://{tmp_path}/record"))
    record.add_window(earlier, as_digests([content_digest("s3-etag:aaa", 100)]))
    # Same ETag and size as an object processed earlier: a metadata-only rewrite or a re-upload.
    rewritten = StoredObject("p/a.jpg", 100, START, "s3-etag:aaa")
    same_etag_other_size = StoredObject("p/b.jpg", 101, START, "s3-etag:aaa")
    new = StoredObject("p/c.jpg", 100, START, "s3-etag:ccc")
    unknown = StoredObject("p/d.jpg", 100, START)  # no checksum listed: always sent, never recorded
    index = record.load(WindowRef(START.isoformat(), END.isoformat()))

    summary, path = run(tmp_path, [rewritten, same_etag_other_size, new, unknown], record=index)

    assert [key_for_name(line["name"]) for line in read_lines(path)] == ["p/b.jpg", "p/c.jpg", "p/d.jpg"]
    assert summary.skipped == {"already-processed": 1}
    assert read_lines(tmp_path / "out" / "refs.skipped.jsonl") == [
        {"key": "p/a.jpg", "reason": "already-processed", "size": 100, "processed_in": earlier.to_json()}
    ]
    content = read_lines(tmp_path / "out" / "refs.content.jsonl")
    assert [line["name"] for line in content] == ["p__b.jpg", "p__c.jpg"]
    assert summary.content_uri == f"file://{tmp_path}/out/refs.content.jsonl"


def test_without_the_record_nothing_is_skipped_for_its_content(tmp_path: Path) -> None:
    summary, _ = run(tmp_path, [StoredObject("p/a.jpg", 100, START, "s3-etag:aaa")])
    assert summary.count == 1 and summary.content_uri is None
    assert not (tmp_path / "out" / "refs.content.jsonl").exists()
