"""Repairs: which objects a window's manifest says to take again, the repair's ids, and the merge
that makes the window reconcile as one (original and repair together)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from include.roboflow_batch.export.manifest import ExportCounts, ExportRecord, build_manifest
from include.roboflow_batch.references.naming import key_for_name
from include.roboflow_batch.repair.merge import merge_repair, reapply_repairs
from include.roboflow_batch.repair.selection import (
    FAILED_AT_INGEST,
    FAILED_IN_PROCESSING,
    WITHOUT_ROWS,
    RepairRefused,
    checked_window_manifest,
    objects_to_repair,
    plan_repair,
    repair_references_uri,
)


def manifest(
    job_id: str,
    *,
    expected: int,
    ingested: list[str],
    rows: dict[str, int],
    failed: list[str] = (),  # type: ignore[assignment]
    unprocessed: list[str] = (),  # type: ignore[assignment]
    batch_id: str = "window-batch",
) -> dict[str, Any]:
    """An export manifest as the export operator builds it."""
    return build_manifest(
        ExportRecord(
            job_id=job_id,
            stage="export",
            output_batches=[f"{job_id}-export"],
            destination="file:///out/window",
            batch_id=batch_id,
            expected_source="expected_count",
            counts=ExportCounts(
                media_type="images",
                expected=expected,
                ingested_count=len(ingested),
                ingested_names=ingested,
                failed=[
                    {"file_name": name, "type": "file-not-reachable", "reason": "HTTP 404"} for name in failed
                ],
                processing_failed=[{"file_name": name, "reason": "truncated"} for name in unprocessed],
                rows=sum(rows.values()),
                rows_by_name=Counter(rows),
                unnamed_rows=0,
            ),
            files=[{"path": f"results/{job_id}.jsonl", "size": 1, "sha256": "x"}],
            key_for_name=key_for_name,
        )
    )


NAMES = [f"cams__{letter}.jpg" for letter in "abcdef"]


def window() -> dict[str, Any]:
    """Six objects: a and b processed, c and d unreachable, e could not be processed, f has no row."""
    a, b, c, d, e, f = NAMES
    return manifest(
        "window-job",
        expected=6,
        ingested=[a, b, e, f],
        rows={a: 1, b: 1},
        failed=[c, d],
        unprocessed=[e],
    )


def test_a_repair_takes_every_object_without_a_result_once_with_why() -> None:
    taken = objects_to_repair(window())
    assert [(obj.name, obj.why) for obj in taken] == [
        ("cams__c.jpg", FAILED_AT_INGEST),
        ("cams__d.jpg", FAILED_AT_INGEST),
        ("cams__e.jpg", FAILED_IN_PROCESSING),
        ("cams__f.jpg", WITHOUT_ROWS),
    ]
    # The source key the name maps back to: the object a repair signs again.
    assert taken[0].source_key == "cams/c.jpg"
    assert "HTTP 404" in taken[0].detail


def test_repair_ids_are_derived_and_numbered_after_every_repair_the_history_names() -> None:
    first = plan_repair(window(), "window-batch", "window-job")
    assert (first.number, first.folder) == (1, "repair-1")
    assert first == plan_repair(window(), "window-batch", "window-job")  # a re-run finds the same ids
    assert len(first.job_id) <= 20 and first.batch_id != "window-batch"
    later = {**window(), "repairs": [{"job_id": "r1"}], "replaced": [{"repair_job_ids": ["r0"]}]}
    second = plan_repair(later, "window-batch", "window-job")
    assert second.number == 3
    assert second.job_id != first.job_id and second.batch_id != first.batch_id
    assert first.to_dict("file:///out/window")["objects_by_reason"] == {
        FAILED_AT_INGEST: 2,
        FAILED_IN_PROCESSING: 1,
        WITHOUT_ROWS: 1,
    }


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "never exported"),
        ("[1]", "not an export manifest"),
        (json.dumps({"kind": "combined", "chunks": [{}, {}]}), "split into 2 batches"),
        (json.dumps({"job_id": "j", "files": [], "switch": {"state": "promoting"}}), "being switched"),
    ],
)
def test_a_window_that_cannot_be_repaired_is_refused_with_the_reason(text: str | None, reason: str) -> None:
    with pytest.raises(RepairRefused, match=reason):
        checked_window_manifest(text, "file:///out/window/manifest.json")


def test_a_window_of_skipped_objects_only_has_nothing_to_repair() -> None:
    skipped_only = checked_window_manifest(json.dumps({"kind": "combined", "chunks": []}), "uri")
    assert objects_to_repair(skipped_only) == []


def repair_of(
    names: list[str], *, rows: dict[str, int], failed: list[str] = (), unprocessed: list[str] = ()
) -> dict[str, Any]:  # type: ignore[assignment]
    staged = [name for name in names if name not in failed]
    return manifest(
        "repair-job",
        expected=len(names),
        ingested=staged,
        rows=rows,
        failed=failed,
        unprocessed=unprocessed,
        batch_id="repair-batch",
    )


def test_a_repair_that_processed_everything_makes_the_window_reconcile_as_one() -> None:
    taken = NAMES[2:]
    merged = merge_repair(
        window(), repair_of(taken, rows=dict.fromkeys(taken, 1)), number=1, folder="repair-1"
    )
    assert merged["reconciled"] is True, merged["checks"]
    assert merged["objects"] == {"seen": 6, "processed": 6, "failed": 0, "skipped": 0}
    assert (merged["failed"]["count"], merged["processing_failed"]["count"]) == (0, 0)
    assert merged["results"]["rows"] == 6
    assert {entry["name"]: entry["rows"] for entry in merged["sources"]} == dict.fromkeys(NAMES, 1)
    assert merged["checks"]["repairs_reconciled"] is True
    [repair] = merged["repairs"]
    assert (repair["number"], repair["job_id"], repair["batch_id"]) == (1, "repair-job", "repair-batch")
    assert (repair["processed"], repair["still_failing"]) == (4, 0)
    assert {outcome["was"] for outcome in repair["outcomes"]} == {
        FAILED_AT_INGEST,
        FAILED_IN_PROCESSING,
        WITHOUT_ROWS,
    }
    assert "repair-1/results/repair-job.jsonl" in [entry["path"] for entry in merged["files"]]
    # Merging the same repair again (a retried merge) changes nothing.
    assert (
        merge_repair(merged, repair_of(taken, rows=dict.fromkeys(taken, 1)), number=1, folder="repair-1")
        == merged
    )


def test_objects_that_fail_again_stay_failed_with_the_newer_reason() -> None:
    c, d, e, f = NAMES[2:]
    repaired = repair_of([c, d, e, f], rows={c: 1, f: 1}, failed=[d], unprocessed=[e])
    repaired["failed"]["files"][0]["reason"] = "HTTP 403"
    merged = merge_repair(window(), repaired, number=1, folder="repair-1")
    assert merged["reconciled"] is True, merged["checks"]
    assert [entry["file_name"] for entry in merged["failed"]["files"]] == [d]
    assert merged["failed"]["files"][0]["reason"] == "HTTP 403"
    assert [entry["file_name"] for entry in merged["processing_failed"]["files"]] == [e]
    assert merged["objects"] == {"seen": 6, "processed": 5, "failed": 1, "skipped": 0}
    assert merged["repairs"][0]["still_failing"] == 2


def test_rows_for_an_object_the_window_never_saw_do_not_reconcile() -> None:
    stranger = "cams__zzz.jpg"
    merged = merge_repair(window(), repair_of([stranger], rows={stranger: 1}), number=1, folder="repair-1")
    assert merged["checks"]["rows_match"] is False
    assert stranger in merged["results"]["rows_for_unknown_files"]
    assert merged["reconciled"] is False


def test_the_windows_export_written_again_keeps_its_merged_repairs() -> None:
    taken = NAMES[2:]
    repaired = repair_of(taken, rows=dict.fromkeys(taken, 1))
    merged = merge_repair(window(), repaired, number=1, folder="repair-1")
    again = reapply_repairs(window(), merged, {"repair-1/manifest.json": repaired}.__getitem__)
    assert again["objects"] == merged["objects"]
    assert [entry["job_id"] for entry in again["repairs"]] == ["repair-job"]


def test_a_repair_has_its_own_references_file_beside_the_windows() -> None:
    assert repair_references_uri("s3://b/refs/p-20261201.jsonl", 2) == "s3://b/refs/p-20261201.repair-2.jsonl"
    assert repair_references_uri(None, 1) is None
