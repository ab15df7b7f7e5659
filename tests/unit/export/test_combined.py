"""The combined manifest of a fanned-out window: totals, and checks that fail when chunks do not add up."""

from typing import Any

import pytest

from include.roboflow_batch.export.combined import ChunkManifestError, chunk_entry, combine_manifests

COUNTS = (15, 15, 10)


def specs(*counts: int) -> list[dict[str, Any]]:
    return [
        {
            "index": i,
            "batch_id": f"batch-{i}",
            "job_id": f"job-{i}",
            "references": f"file:///refs.chunk-{i:04d}.jsonl",
            "count": count,
        }
        for i, count in enumerate(counts)
    ]


def chunk_manifest(
    spec: dict[str, Any], *, failed: int = 0, rows: int | None = None, ok: bool = True
) -> dict:
    count = spec["count"]
    return {
        "job_id": spec["job_id"],
        "inputs": {"expected": count, "source": "expected_count"},
        "ingested": {"batch_id": spec["batch_id"], "count": count - failed},
        "failed": {"count": failed, "files": []},
        "processing_failed": {"count": 0, "files": []},
        "results": {"rows": count - failed if rows is None else rows},
        "reconciled": ok,
    }


def combine(
    plan: list[dict[str, Any]], manifests: list[dict[str, Any]], listed: int, **extra: Any
) -> dict[str, Any]:
    entries = [
        chunk_entry(spec, manifest, f"file:///out/chunk-{spec['index']:04d}/manifest.json")
        for spec, manifest in zip(plan, manifests, strict=True)
    ]
    return combine_manifests(
        specs=plan,
        entries=entries,
        listed=listed,
        destination="file:///out/",
        media_type="images",
        window={"start": "2026-03-01T04:00:00+00:00", "end": "2026-03-01T05:00:00+00:00"},
        **extra,
    )


SKIPPED_FILES = [
    {"key": "cams/a.jpg", "reason": "file-size-limit-exceeded", "size": 30_000_000},
    {"key": "cams/b.jpg", "reason": "file-size-limit-exceeded", "size": 21_000_000},
    {"key": "cams/c.jpg", "reason": "file-size-limit-exceeded", "size": 25_000_000},
    {"key": "cams/d.jpg", "reason": "empty-file", "size": 0},
]


def test_chunks_that_account_for_every_listed_object_reconcile_with_totals() -> None:
    plan = specs(*COUNTS)
    manifests = [chunk_manifest(plan[0]), chunk_manifest(plan[1], failed=2), chunk_manifest(plan[2])]

    manifest = combine(
        plan,
        manifests,
        listed=40,
        skipped={"file-size-limit-exceeded": 3, "empty-file": 1},
        skipped_list="s3://refs/window.skipped.jsonl",
        skipped_files=SKIPPED_FILES,
    )

    assert manifest["reconciled"] is True, manifest["checks"]
    assert manifest["skipped"] == {
        "count": 4,
        "reasons": {"empty-file": 1, "file-size-limit-exceeded": 3},
        "list": "s3://refs/window.skipped.jsonl",
        "files": SKIPPED_FILES,
    }
    # Every object seen in the window is processed, failed at ingest or skipped while listing.
    assert manifest["objects"] == {"seen": 44, "processed": 38, "failed": 2, "skipped": 4}
    assert manifest["inputs"] == {"listed": 40, "expected": 40}
    assert manifest["ingested"] == {"count": 38, "batch_ids": ["batch-0", "batch-1", "batch-2"]}
    assert manifest["failed"] == {"count": 2}
    assert manifest["results"] == {"rows": 38}
    assert manifest["job_ids"] == ["job-0", "job-1", "job-2"]
    assert [c["manifest"] for c in manifest["chunks"]][1] == "file:///out/chunk-0001/manifest.json"


def test_a_listing_the_chunks_do_not_cover_does_not_reconcile() -> None:
    plan = specs(*COUNTS)

    manifest = combine(plan, [chunk_manifest(spec) for spec in plan], listed=41)

    assert manifest["checks"]["chunks_cover_listing"] is False
    assert manifest["reconciled"] is False


def test_a_missing_chunk_does_not_reconcile() -> None:
    plan = specs(*COUNTS)

    manifest = combine(plan[:2], [chunk_manifest(spec) for spec in plan[:2]], listed=40)
    partial = combine_manifests(
        specs=plan,
        entries=manifest["chunks"],
        listed=40,
        destination="file:///out/",
        media_type="images",
        window={},
    )

    assert partial["checks"]["every_chunk_exported"] is False
    assert partial["reconciled"] is False


def test_a_chunk_that_did_not_reconcile_or_expected_other_inputs_fails_the_window() -> None:
    plan = specs(*COUNTS)
    unreconciled = [
        chunk_manifest(plan[0]),
        chunk_manifest(plan[1], rows=14, ok=False),
        chunk_manifest(plan[2]),
    ]
    short = [chunk_manifest(spec) for spec in plan]
    short[2]["inputs"]["expected"] = 9
    short[2]["ingested"]["count"] = 9

    assert combine(plan, unreconciled, listed=40)["checks"]["every_chunk_reconciled"] is False
    checks = combine(plan, short, listed=40)["checks"]
    assert checks["chunk_inputs_match_references"] is False


def test_two_chunks_on_one_job_or_a_foreign_manifest_do_not_reconcile() -> None:
    plan = specs(*COUNTS)
    manifests = [chunk_manifest(spec) for spec in plan]
    manifests[2]["job_id"] = "job-1"

    checks = combine(plan, manifests, listed=40)["checks"]

    assert checks["distinct_batches_and_jobs"] is False
    assert checks["every_chunk_exported"] is False  # chunk 2's manifest is not of chunk 2's job


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda m: m.pop("ingested"), "missing field ingested.batch_id"),
        (lambda m: m["failed"].update(count="2"), "failed.count is not a count"),
        (lambda m: m["inputs"].update(expected=True), "inputs.expected is not a count"),
        (lambda m: m["results"].update(rows=-1), "results.rows is not a count"),
    ],
)
def test_a_damaged_chunk_manifest_is_named(damage: Any, message: str) -> None:
    [spec] = specs(3)
    manifest = chunk_manifest(spec)
    damage(manifest)

    with pytest.raises(ChunkManifestError, match=rf"chunk 0 manifest file:///m.json: {message}"):
        chunk_entry(spec, manifest, "file:///m.json")


def test_skipped_objects_missing_from_the_list_do_not_reconcile() -> None:
    plan = specs(*COUNTS)
    manifests = [chunk_manifest(spec) for spec in plan]

    manifest = combine(plan, manifests, listed=40, skipped={"empty-file": 2}, skipped_files=SKIPPED_FILES[3:])

    assert manifest["checks"]["skipped_listed"] is False and manifest["reconciled"] is False


def test_no_chunk_and_only_skipped_objects_reconcile_as_seen_equals_skipped() -> None:
    manifest = combine(
        [],
        [],
        listed=0,
        skipped={"file-size-limit-exceeded": 3, "empty-file": 1},
        skipped_files=SKIPPED_FILES,
    )

    assert manifest["reconciled"] is True, manifest["checks"]
    assert manifest["objects"] == {"seen": 4, "processed": 0, "failed": 0, "skipped": 4}
    assert (manifest["chunks"], manifest["job_ids"], manifest["results"]) == ([], [], {"rows": 0})
