"""Planning the chunks of a window: ids, export folders and the arguments of each mapped step."""

from typing import Any

import pytest

from include.roboflow_batch.api.ids import staged_batch_id, validate_batch_id, validate_job_id
from include.roboflow_batch.pipeline.chunks import (
    ChunkMismatchError,
    ChunkPlanError,
    ChunkSpec,
    batch_wait_kwargs,
    export_kwargs,
    ingest_kwargs,
    job_wait_kwargs,
    plan_chunks,
    start_job_kwargs,
)

PLAN = {
    "batch_id": "cams-20260301t040000-20260301t050000-abcdefghijklmnop",
    "job_id": "cams-abcdefghij",
    "destination": "s3://results/cams/20260301T0400/",
}


def listing(*counts: int) -> dict[str, Any]:
    chunks = [
        {"index": i, "references_uri": f"s3://private/refs.chunk-{i:04d}.jsonl", "count": count}
        for i, count in enumerate(counts)
    ]
    return {"count": sum(counts), "chunks": chunks, "media_type": "images"}


HISTORY = [{"at": "2026-03-01T05:00:00+00:00", "action": "create", "job_id": "cams-abcdefghij", "attempt": 1}]


def ran(
    spec: ChunkSpec, job_id: str | None = None, expected: int | None = 12
) -> tuple[ChunkSpec, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A chunk with what its ingest, start_job and wait_for_job returned (as the export zips them)."""
    job_id = job_id or spec["job_id"]
    ingested = {"batch_id": spec["batch_id"], "expected_count": expected}
    started = {"batch_id": spec["batch_id"], "job_id": job_id, "job_history": HISTORY}
    return spec, ingested, started, {"job_id": job_id, "succeeded": True, "job_history": HISTORY}


def test_one_chunk_keeps_the_runs_own_batch_job_and_folder() -> None:
    [spec] = plan_chunks(PLAN, listing(12))

    assert spec == {
        "index": 0,
        "batch_id": PLAN["batch_id"],
        "job_id": PLAN["job_id"],
        "references": "s3://private/refs.chunk-0000.jsonl",
        "count": 12,
        "destination": PLAN["destination"],
        "skipped_list": None,
        "skipped_count": None,
    }


def test_the_skipped_list_goes_to_a_lone_chunks_export_and_never_to_several() -> None:
    skipped = {"skipped_uri": "s3://private/refs.skipped.jsonl", "skipped_count": 3}

    [lone] = plan_chunks(PLAN, {**listing(12), **skipped})
    several = plan_chunks(PLAN, {**listing(6, 6), **skipped})

    assert (
        export_kwargs(ran(lone))["skipped_list"],
        export_kwargs(ran(lone))["skipped_count"],
    ) == (
        "s3://private/refs.skipped.jsonl",
        3,
    )
    # With several chunks only the window's combined manifest counts them, so never twice.
    assert {
        (
            export_kwargs(ran(s))["skipped_list"],
            export_kwargs(ran(s))["skipped_count"],
        )
        for s in several
    } == {(None, None)}


def test_several_chunks_get_distinct_valid_ids_and_folders_derived_from_the_index() -> None:
    specs = plan_chunks(PLAN, listing(15, 15, 10))

    assert [spec["index"] for spec in specs] == [0, 1, 2]
    assert len({spec["batch_id"] for spec in specs}) == len({spec["job_id"] for spec in specs}) == 3
    assert PLAN["batch_id"] not in {spec["batch_id"] for spec in specs}
    for spec in specs:
        validate_batch_id(spec["batch_id"])
        validate_job_id(spec["job_id"])
    assert [spec["destination"] for spec in specs] == [
        f"s3://results/cams/20260301T0400/chunk-000{i}/" for i in range(3)
    ]
    # A retry or a re-run of the window plans the same names: it re-attaches, never duplicates.
    assert plan_chunks(PLAN, listing(15, 15, 10)) == specs
    other_window = {**PLAN, "batch_id": PLAN["batch_id"].replace("04", "05"), "job_id": "cams-zzzzzzzzzz"}
    assert not {s["job_id"] for s in specs} & {
        s["job_id"] for s in plan_chunks(other_window, listing(15, 15))
    }


def test_each_mapped_step_gets_its_own_arguments_of_the_chunk() -> None:
    spec = plan_chunks(PLAN, listing(15, 5))[1]

    assert ingest_kwargs(spec) == {"batch_id": spec["batch_id"], "references": spec["references"]}
    ingested = {"batch_id": spec["batch_id"], "expected_count": 5}
    allowed = {"index": spec["index"], "job_id": spec["job_id"], "ceiling_seconds": 900}
    assert start_job_kwargs((spec, ingested, allowed)) == {
        "batch_id": spec["batch_id"],
        "job_id": spec["job_id"],
        "processing_timeout_seconds": 900,  # the ceiling the spend gate reserved for this chunk
    }
    # A batch staged again under the next id (Roboflow kept the expired one's) is the chunk's own.
    restaged = {"batch_id": staged_batch_id(spec["batch_id"], 2), "expected_count": 5}
    assert start_job_kwargs((spec, restaged, allowed))["batch_id"] == restaged["batch_id"]
    with pytest.raises(ChunkMismatchError, match="allowance of chunk 7"):
        start_job_kwargs((spec, ingested, {**allowed, "index": 7}))
    # The wait takes the batch and the count its own chunk's ingest returned, as numbers.
    assert batch_wait_kwargs({"batch_id": spec["batch_id"], "expected_count": 5, "mode": "references"}) == {
        "batch_id": spec["batch_id"],
        "expected_count": 5,
    }
    # A new attempt's job, as start_job returned it, is the one waited for and exported, with its history.
    started = {
        "batch_id": spec["batch_id"],
        "job_id": "cams-abcdefghij-a2",
        "job_history": HISTORY,
        "ceiling_seconds": 900,
    }
    assert job_wait_kwargs(started) == {
        "job_id": "cams-abcdefghij-a2",
        "job_history": HISTORY,
        "restart_ceiling_seconds": 900,  # a restart carries the job's ceiling
    }
    assert export_kwargs(ran(spec, "cams-abcdefghij-a2", expected=5)) == {
        "job_id": "cams-abcdefghij-a2",
        "batch_id": spec["batch_id"],
        "destination": spec["destination"],
        "references": spec["references"],
        "expected_count": 5,
        "job_history": HISTORY,
        "skipped_list": None,
        "skipped_count": None,
    }


def test_a_count_the_ingest_could_not_tell_stays_none_and_zero_stays_zero() -> None:
    spec = plan_chunks(PLAN, listing(3))[0]

    assert export_kwargs(ran(spec, expected=None))["expected_count"] is None
    assert export_kwargs(ran(spec, expected=0))["expected_count"] == 0
    assert batch_wait_kwargs({"batch_id": spec["batch_id"], "expected_count": None})["expected_count"] is None


def test_values_of_another_chunk_are_refused_naming_the_chunk() -> None:
    first, second = plan_chunks(PLAN, listing(15, 5))
    spec, _, started, waited = ran(first)
    _, other_ingest, _, _ = ran(second)

    with pytest.raises(ChunkMismatchError, match=r"chunk 0 .* values of other chunks"):
        export_kwargs((spec, other_ingest, started, waited))
    with pytest.raises(ChunkMismatchError, match="chunk 0"):
        export_kwargs((spec, ran(first)[1], started, {**waited, "job_id": second["job_id"]}))


@pytest.mark.parametrize(
    ("listing_value", "message"),
    [
        ({"count": 3}, "no 'chunks' list"),
        ({"count": 3, "chunks": []}, "counted 3 objects but wrote no chunk"),
        ({**listing(2, 1), "count": 4}, "hold 3 references but the listing counted 4"),
        ({"count": 3, "chunks": [{"index": 1, "references_uri": "s3://a/b", "count": 3}]}, r"chunks\[0\]"),
        ({"count": 3, "chunks": [{"index": 0, "references_uri": "refs", "count": 3}]}, "not a URI"),
        ({"count": 0, "chunks": [{"index": 0, "references_uri": "s3://a/b", "count": 0}]}, "positive"),
    ],
)
def test_an_unusable_chunk_list_is_refused_naming_the_field(listing_value: dict, message: str) -> None:
    with pytest.raises(ChunkPlanError, match=message):
        plan_chunks(PLAN, listing_value)
