from __future__ import annotations

from typing import Any

from include.roboflow_batch.ingest.readiness import FAILED_EXAMPLES_LIMIT, assess_readiness


def shard(
    status: str, expected: int | None = None, ingested: int | None = None, failed: int = 0, **extra: Any
):
    metadata: dict[str, Any] = {
        "failedFiles": [
            {"fileName": f"f{i}.jpg", "type": "file-size-limit-exceeded", "reason": "too big"}
            for i in range(failed)
        ]
    }
    if expected is not None:
        metadata["expectedFiles"] = expected
    if ingested is not None:
        metadata["ingestedFiles"] = ingested
    return {
        "shardId": "s",
        "statusType": status,
        "shardObjectsCount": ingested or 0,
        "statusMetadata": metadata,
        **extra,
    }


def test_a_shard_still_indexing_means_not_ready_even_if_counts_match() -> None:
    snapshot = assess_readiness("b", 10, 10, [shard("success", 5, 5), shard("info")])
    assert snapshot.pending_shards == 1
    assert not snapshot.settled


def test_files_of_a_shard_still_indexing_are_not_counted_failed() -> None:
    snapshot = assess_readiness("b", 256, 0, [shard("info", expected=256, ingested=0)])
    assert snapshot.failed_count == 0


def test_staged_plus_failed_accounting_for_expected_is_ready() -> None:
    snapshot = assess_readiness("b", 10, 8, [shard("warning", 10, 8, failed=2)])
    assert snapshot.settled
    summary = snapshot.to_summary()
    assert summary["failed_count"] == 2
    assert summary["failure_rate"] == 0.2
    assert summary["failed_by_type"] == {"file-size-limit-exceeded": 2}
    assert summary["failed"][0] == {
        "file_name": "f0.jpg",
        "type": "file-size-limit-exceeded",
        "reason": "too big",
    }


def test_missing_files_keep_it_waiting() -> None:
    assert not assess_readiness("b", 10, 7, [shard("success", 7, 7)]).settled


def test_truncated_failure_lists_are_counted_from_the_shard_counts() -> None:
    snapshot = assess_readiness("b", 300, 0, [shard("error", 300, 0, failed=FAILED_EXAMPLES_LIMIT + 20)])
    assert snapshot.failed_count == 300
    assert len(snapshot.failed) == FAILED_EXAMPLES_LIMIT
    assert snapshot.failed_by_type == {"file-size-limit-exceeded": 120, "unlisted": 180}
    assert snapshot.settled


def test_error_shard_without_metadata_counts_its_objects_as_failed() -> None:
    bare = {"shardId": "s", "statusType": "error", "shardObjectsCount": 4}
    assert assess_readiness("b", 4, 0, [bare]).failed_count == 4


def test_unknown_expected_count_comes_from_the_shards() -> None:
    waiting = assess_readiness("b", None, 3, [shard("info")])
    assert not waiting.settled
    done = assess_readiness("b", None, 3, [shard("success", 2, 2), shard("warning", 2, 1, failed=1)])
    assert done.expected == 4
    assert done.settled
    assert done.to_summary()["failure_rate"] == 0.25


def test_empty_expectation_is_ready_at_once() -> None:
    snapshot = assess_readiness("b", 0, 0, [])
    assert snapshot.settled
    assert snapshot.failure_rate == 0.0


def test_models_with_snake_case_attributes_are_read_too() -> None:
    from include.roboflow_batch.api.models import ShardDetails

    model = ShardDetails.model_validate(
        {
            "shardId": "s1",
            "statusName": "done",
            "statusType": "warning",
            "eventTimestamp": "2026-03-01T05:00:00Z",
            "shardObjectsCount": 1,
            "statusMetadata": {
                "expectedFiles": 2,
                "ingestedFiles": 1,
                "failedFiles": [{"fileName": "x.png", "type": "file-not-reachable", "reason": "404"}],
            },
        }
    )
    snapshot = assess_readiness("b", 2, 1, [model])
    assert snapshot.settled
    assert snapshot.failed == [{"file_name": "x.png", "type": "file-not-reachable", "reason": "404"}]


def test_a_file_reported_failed_by_two_shards_counts_once() -> None:
    snapshot = assess_readiness("b", 2, 1, [shard("warning", 2, 1, failed=1), shard("error", 1, 0, failed=1)])
    assert snapshot.failed_count == 1
    assert snapshot.settled
