"""The ``reconcile`` task: reads each chunk's manifest, writes the window's, fails when they do not add up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.roboflow_batch.pipeline.chunks import plan_chunks
from include.roboflow_batch.pipeline.combine_task import reconcile_chunks


def window(tmp_path: Path, *counts: int) -> tuple[dict, dict, list[dict], list[dict]]:
    """A plan, a listing, the chunk specs and the exports of chunks that each wrote a manifest."""
    plan = {
        "batch_id": "fleet-20260301t040000-20260301t050000-abcdefghijklmnop",
        "job_id": "fleet-abcdefghij",
        "destination": f"file://{tmp_path}/out/",
        "window_start": "2026-03-01T04:00:00+00:00",
        "window_end": "2026-03-01T05:00:00+00:00",
        "select": "interval",
    }
    chunks = [
        {"index": i, "references_uri": f"file://{tmp_path}/refs.chunk-{i:04d}.jsonl", "count": count}
        for i, count in enumerate(counts)
    ]
    listing = {"count": sum(counts), "media_type": "images", "chunks": chunks}
    specs = [dict(spec) for spec in plan_chunks(plan, listing)]
    exports = []
    for spec in specs:
        folder = Path(spec["destination"].removeprefix("file://"))
        folder.mkdir(parents=True, exist_ok=True)
        manifest = {
            "job_id": spec["job_id"],
            "inputs": {"expected": spec["count"]},
            "ingested": {"batch_id": spec["batch_id"], "count": spec["count"]},
            "failed": {"count": 0},
            "results": {"rows": spec["count"]},
            "reconciled": True,
        }
        (folder / "manifest.json").write_text(json.dumps(manifest))
        exports.append({"manifest_uri": f"{spec['destination'].rstrip('/')}/manifest.json"})
    return plan, listing, specs, exports


def test_several_chunks_get_one_manifest_in_the_windows_folder(tmp_path: Path) -> None:
    plan, listing, specs, exports = window(tmp_path, 15, 15, 10)

    summary = reconcile_chunks(plan, listing, specs, exports)

    assert summary["manifest_uri"] == f"file://{tmp_path}/out/manifest.json"
    assert (summary["chunks"], summary["listed"], summary["result_rows"]) == (3, 40, 40)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["reconciled"] is True
    assert [chunk["manifest"] for chunk in manifest["chunks"]] == [e["manifest_uri"] for e in exports]


def test_the_window_accounts_for_skipped_objects_and_emits_one_results_event(tmp_path: Path) -> None:
    from collections import defaultdict
    from types import SimpleNamespace

    from include.roboflow_batch.export.results_asset import results_asset

    plan, listing, specs, exports = window(tmp_path, 15, 5)
    listing.update(
        skipped_list(tmp_path, [("a.jpg", "empty-file"), ("b.jpg", "empty-file"), ("c.jpg", "big")])
    )
    asset = results_asset("fleet")
    events: defaultdict[Any, SimpleNamespace] = defaultdict(lambda: SimpleNamespace(extra={}))

    reconcile_chunks(
        plan, listing, specs, exports, task=SimpleNamespace(outlets=[asset]), outlet_events=events
    )

    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["objects"] == {"seen": 23, "processed": 20, "failed": 0, "skipped": 3}
    assert manifest["skipped"]["list"] == listing["skipped_uri"]
    assert [entry["key"] for entry in manifest["skipped"]["files"]] == ["a.jpg", "b.jpg", "c.jpg"]
    assert manifest["checks"]["skipped_listed"] is True
    assert list(events) == [asset]
    extra = events[asset].extra
    assert extra["objects"] == {"processed": 20, "failed": 0, "skipped": 3}
    assert (extra["manifest_uri"], extra["rows"], extra["chunks"]) == (
        f"file://{tmp_path}/out/manifest.json",
        20,
        2,
    )
    assert extra["job_ids"] == [spec["job_id"] for spec in specs] and extra["job_id"] is None


def skipped_list(tmp_path: Path, entries: list[tuple[str, str]]) -> dict[str, Any]:
    """The skipped fields of a listing whose skipped list holds ``entries`` (key, reason)."""
    path = tmp_path / "refs.skipped.jsonl"
    path.write_text(
        "".join(json.dumps({"key": key, "reason": reason, "size": 0}) + "\n" for key, reason in entries)
    )
    reasons: dict[str, int] = {}
    for _key, reason in entries:
        reasons[reason] = reasons.get(reason, 0) + 1
    return {"skipped": reasons, "skipped_count": len(entries), "skipped_uri": path.as_uri()}


def test_a_skipped_list_that_lost_entries_does_not_reconcile(tmp_path: Path) -> None:
    plan, listing, specs, exports = window(tmp_path, 15, 5)
    listing.update(skipped_list(tmp_path, [("a.jpg", "empty-file")]))
    listing.update(skipped={"empty-file": 2}, skipped_count=2)

    with pytest.raises(AirflowFailException, match="do not reconcile: skipped_listed"):
        reconcile_chunks(plan, listing, specs, exports)


def test_a_window_of_skipped_objects_only_gets_a_manifest_without_batch_or_job(tmp_path: Path) -> None:
    from collections import defaultdict
    from types import SimpleNamespace

    from include.roboflow_batch.export.results_asset import results_asset

    plan, listing, specs, exports = window(tmp_path)
    listing.update(skipped_list(tmp_path, [("notes.txt", "unsupported-file-type"), ("e.jpg", "empty-file")]))
    asset = results_asset("fleet")
    events: defaultdict[Any, SimpleNamespace] = defaultdict(lambda: SimpleNamespace(extra={}))

    summary = reconcile_chunks(
        plan, listing, specs, exports, started=[], task=SimpleNamespace(outlets=[asset]), outlet_events=events
    )

    assert specs == [] and exports == []
    assert summary["manifest_uri"] == f"file://{tmp_path}/out/manifest.json"
    assert (summary["chunks"], summary["result_rows"], summary["skipped"]) == (0, 0, 2)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["reconciled"] is True and all(manifest["checks"].values())
    assert manifest["objects"] == {"seen": 2, "processed": 0, "failed": 0, "skipped": 2}
    assert sorted((e["key"], e["reason"]) for e in manifest["skipped"]["files"]) == [
        ("e.jpg", "empty-file"),
        ("notes.txt", "unsupported-file-type"),
    ]
    assert manifest["job_ids"] == [] and manifest["chunks"] == []
    extra = events[asset].extra
    assert extra["objects"] == {"processed": 0, "failed": 0, "skipped": 2}
    assert (extra["rows"], extra["job_id"], extra["batch_id"], extra["chunks"]) == (0, None, None, 0)

    # The same window again rewrites its own manifest.
    assert reconcile_chunks(plan, listing, specs, exports)["reconciled"] is True


def test_a_window_of_skipped_objects_only_never_replaces_a_manifest_with_results(tmp_path: Path) -> None:
    plan, listing, _specs, _exports = window(tmp_path, 12)
    before = (tmp_path / "out" / "manifest.json").read_text()
    listing.update(skipped_list(tmp_path, [("notes.txt", "unsupported-file-type")]), count=0, chunks=[])

    with pytest.raises(AirflowFailException, match=r"already holds the results of job\(s\) \['fleet-"):
        reconcile_chunks(plan, listing, [], [])
    assert (tmp_path / "out" / "manifest.json").read_text() == before


def test_a_window_with_nothing_listed_is_skipped() -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    with pytest.raises(AirflowSkipException, match="nothing to account for"):
        reconcile_chunks({}, None, None, None)


def test_one_chunk_keeps_its_own_manifest_as_the_windows(tmp_path: Path) -> None:
    plan, listing, specs, exports = window(tmp_path, 12)
    before = (tmp_path / "out" / "manifest.json").read_text()

    summary = reconcile_chunks(plan, listing, specs, exports)

    assert summary["manifest_uri"] == exports[0]["manifest_uri"]
    assert (tmp_path / "out" / "manifest.json").read_text() == before


def test_chunks_that_do_not_add_up_fail_after_writing_the_manifest(tmp_path: Path) -> None:
    plan, listing, specs, exports = window(tmp_path, 15, 5)
    listing["count"] = 21

    with pytest.raises(AirflowFailException, match="do not reconcile: chunks_cover_listing"):
        reconcile_chunks(plan, listing, specs, exports)
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["reconciled"] is False


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda path: path.unlink(), "chunk 1: manifest .* does not exist"),
        (lambda path: path.write_text("{not json"), "chunk 1: manifest .* is not JSON"),
        (lambda path: path.write_text("[]"), "chunk 1: manifest .* is not a JSON object"),
    ],
)
def test_a_missing_or_damaged_chunk_manifest_is_named(tmp_path: Path, damage: Any, message: str) -> None:
    plan, listing, specs, exports = window(tmp_path, 15, 5)
    damage(Path(exports[1]["manifest_uri"].removeprefix("file://")))

    with pytest.raises(AirflowFailException, match=message):
        reconcile_chunks(plan, listing, specs, exports)


def test_fewer_exports_than_chunks_fail(tmp_path: Path) -> None:
    plan, listing, specs, exports = window(tmp_path, 15, 5)

    with pytest.raises(AirflowFailException, match="2 chunks were planned but 1 exported"):
        reconcile_chunks(plan, listing, specs, exports[:1])


def _content_list(tmp_path: Path, names: list[str]) -> str:
    from include.roboflow_batch.content.identity import content_digest
    from include.roboflow_batch.content.window_content import content_line

    path = tmp_path / "refs.content.jsonl"
    lines = [json.dumps(content_line(name, content_digest(f"s3-etag:{name}", 1))) for name in names]
    path.write_text("\n".join(lines) + "\n")
    return path.as_uri()


def test_a_reconciled_window_records_its_content_but_not_what_failed(tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    from include.roboflow_batch.content.identity import as_digests, content_digest
    from include.roboflow_batch.content.record import ContentRecord, WindowRef

    plan, listing, specs, exports = window(tmp_path, 3, 2)
    listing["content_uri"] = _content_list(tmp_path, ["a", "b", "c", "d", "e"])
    # Chunk 0 lost "b" at ingest (counted as failed) and chunk 1's workflow could not process "e".
    first = Path(exports[0]["manifest_uri"].removeprefix("file://"))
    manifest = json.loads(first.read_text())
    manifest["ingested"]["count"], manifest["results"]["rows"] = 2, 2
    manifest["failed"] = {"count": 1, "files": [{"file_name": "b", "reason": "unsafe-url-detected"}]}
    first.write_text(json.dumps(manifest))
    second = Path(exports[1]["manifest_uri"].removeprefix("file://"))
    manifest = json.loads(second.read_text())
    manifest["processing_failed"] = {"count": 1, "files": [{"file_name": "e", "reason": "decode"}]}
    second.write_text(json.dumps(manifest))
    record = f"file://{tmp_path}/record/"

    summary = reconcile_chunks(plan, listing, specs, exports, processed_content=record, run_id="r1")

    assert summary["recorded_content"] == 3
    later = WindowRef("2026-03-01T05:00:00+00:00", "2026-03-01T06:00:00+00:00")
    probe = as_digests([content_digest(f"s3-etag:{name}", 1) for name in "abcde"])
    window_of_plan = WindowRef(plan["window_start"], plan["window_end"])
    found = ContentRecord(ObjectStoragePath(record)).load(later).lookup(probe)
    assert found == [window_of_plan, None, window_of_plan, window_of_plan, None]


def test_a_window_that_does_not_reconcile_records_nothing(tmp_path: Path) -> None:
    plan, listing, specs, exports = window(tmp_path, 15, 15)
    listing["content_uri"] = _content_list(tmp_path, ["a"])
    listing["count"] = 31  # the chunks do not cover the listing
    with pytest.raises(AirflowFailException, match="do not reconcile"):
        reconcile_chunks(plan, listing, specs, exports, processed_content=f"file://{tmp_path}/record/")
    assert not (tmp_path / "record").exists()
