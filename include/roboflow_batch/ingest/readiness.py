"""Is a staging batch ready? Pure bookkeeping shared by the readiness sensor and its trigger.

A batch is ready when nothing is still indexing (no shard with ``statusType == "info"``) and the
staged files plus the files the service reported as failed account for every expected file.
Failures come from each shard's ``statusMetadata.failedFiles`` (D6 shard statuses).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FAILED_EXAMPLES_LIMIT",
    "FAILURES_NAMED",
    "ReadinessSnapshot",
    "assess_readiness",
    "describe_failures",
    "failure_rate",
]

FAILED_EXAMPLES_LIMIT = 100
#: Failed files named, with their reasons, in the message of a readiness failure.
FAILURES_NAMED = 20
PENDING_STATUS = "info"


def _field(obj: Any, snake: str, camel: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(camel, obj.get(snake))
    return getattr(obj, snake, None)


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class ReadinessSnapshot:
    """One look at a batch: counts, failures, and whether indexing has settled."""

    batch_id: str
    expected: int | None
    staged: int
    shard_count: int = 0
    pending_shards: int = 0
    failed_count: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    failed_by_type: dict[str, int] = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        """Indexing is over and every expected file is either staged or reported failed."""
        if self.pending_shards:
            return False
        if self.expected is None:
            return self.shard_count > 0
        return self.staged + self.failed_count >= self.expected

    @property
    def failure_rate(self) -> float:
        return failure_rate(self.failed_count, self.expected, self.staged)

    def describe(self) -> str:
        expected = "unknown" if self.expected is None else str(self.expected)
        return (
            f"batch {self.batch_id}: expected {expected}, staged {self.staged}, failed {self.failed_count}, "
            f"shards {self.shard_count} ({self.pending_shards} still indexing)"
        )

    def to_summary(self) -> dict[str, Any]:
        """The sensor's return value (and the trigger event's counts): JSON-safe, no URLs."""
        expected = self.expected if self.expected is not None else self.staged + self.failed_count
        return {
            "batch_id": self.batch_id,
            "expected": expected,
            "staged": self.staged,
            "failed_count": self.failed_count,
            "failed": list(self.failed),
            "failed_by_type": dict(self.failed_by_type),
            "failure_rate": self.failure_rate,
        }


def failure_rate(failed_count: int, expected: int | None, staged: int = 0) -> float:
    """Failed files as a fraction of the expected files (0.0 for an empty batch)."""
    denominator = expected if expected is not None else staged + failed_count
    return round(failed_count / denominator, 6) if denominator > 0 else 0.0


def assess_readiness(
    batch_id: str,
    expected: int | None,
    staged: int,
    shards: Iterable[Any],
) -> ReadinessSnapshot:
    """Summarise ``shards`` (D6 shard statuses, models or dicts) with the staged count (D3 count) into a
    snapshot.

    With ``expected=None`` (a references URL whose file could not be counted) the expected count is
    what the shards say they were given (``statusMetadata.expectedFiles``).
    """
    snapshot = ReadinessSnapshot(batch_id=batch_id, expected=expected, staged=staged)
    by_type: Counter[str] = Counter()
    # A file re-sent by a retry may be reported failed by two shards; count each name once.
    seen_failures: set[str] = set()
    server_expected = 0
    for shard in shards:
        snapshot.shard_count += 1
        status_type = str(_field(shard, "status_type", "statusType") or "").lower()
        if status_type == PENDING_STATUS:
            snapshot.pending_shards += 1
        metadata = _field(shard, "status_metadata", "statusMetadata") or {}
        failures = _field(metadata, "failed_files", "failedFiles") or []
        listed = 0
        repeated = 0
        for failure in failures:
            listed += 1
            name = str(_field(failure, "file_name", "fileName") or "")
            if name and name in seen_failures:
                repeated += 1
                continue
            seen_failures.add(name)
            kind = str(_field(failure, "type", "type") or "unknown")
            by_type[kind] += 1
            if len(snapshot.failed) < FAILED_EXAMPLES_LIMIT:
                snapshot.failed.append(
                    {
                        "file_name": name,
                        "type": kind,
                        "reason": str(_field(failure, "reason", "reason") or ""),
                    }
                )
        shard_expected = _as_int(_field(metadata, "expected_files", "expectedFiles"))
        shard_ingested = _as_int(_field(metadata, "ingested_files", "ingestedFiles"))
        objects = _as_int(_field(shard, "shard_objects_count", "shardObjectsCount")) or 0
        # A failure list may be truncated; the shard's own counts then tell how many really failed.
        unlisted = 0
        if status_type == PENDING_STATUS:
            pass  # still indexing: its counts are not final
        elif shard_expected is not None and shard_ingested is not None:
            unlisted = max(0, shard_expected - shard_ingested - listed)
        elif "error" in status_type and not listed:
            unlisted = objects
        if unlisted:
            by_type["unlisted"] += unlisted
        snapshot.failed_count += listed - repeated + unlisted
        server_expected += shard_expected if shard_expected is not None else objects + listed + unlisted
    snapshot.failed_by_type = dict(sorted(by_type.items()))
    if expected is None and snapshot.shard_count and not snapshot.pending_shards:
        snapshot.expected = server_expected
    return snapshot


def describe_failures(
    failed: Iterable[Mapping[str, Any]], failed_count: int, limit: int = FAILURES_NAMED
) -> str:
    """The first ``limit`` failed files with their type and reason, and how many more failed.

    ``failed`` are a summary's examples (``{"file_name", "type", "reason"}``); ``failed_count`` the total.
    """
    lines = [
        f"{entry.get('file_name') or '(unnamed)'}: {entry.get('type') or 'unknown'}"
        + (f" ({entry['reason']})" if entry.get("reason") else "")
        for entry in list(failed)[:limit]
    ]
    more = failed_count - len(lines)
    if more > 0:
        lines.append(f"... and {more} more")
    return "; ".join(lines)
