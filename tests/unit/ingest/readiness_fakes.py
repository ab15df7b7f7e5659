"""Fake shard pages and clients for the readiness sensor and trigger tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from include.roboflow_batch.api.models import ShardDetails


def make_shard(
    status: str, expected: int, ingested: int, failures: list[tuple[str, str]] = ()
) -> ShardDetails:
    return ShardDetails.model_validate(
        {
            "shardId": f"shard-{status}-{expected}-{ingested}",
            "statusName": status,
            "statusType": status,
            "eventTimestamp": "2026-03-01T05:00:00Z",
            "shardObjectsCount": ingested,
            "statusMetadata": {
                "ingestId": "i",
                "expectedFiles": expected,
                "ingestedFiles": ingested,
                "failedFiles": [
                    {"fileName": name, "type": kind, "reason": f"{kind}!"} for name, kind in failures
                ],
            },
        }
    )


class ScriptedAsyncClient:
    """An async client whose successive polls return scripted (staged, shards) pairs or raise."""

    def __init__(self, polls: list[tuple[int, list[ShardDetails]] | Exception]) -> None:
        self.polls = list(polls)
        self.count_calls = 0
        self.closed = False
        self._current: tuple[int, list[ShardDetails]] | None = None

    async def __aenter__(self) -> ScriptedAsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.closed = True

    async def count_batch(self, batch_id: str, part_name: str | None = None) -> int:
        self.count_calls += 1
        step = self.polls.pop(0) if len(self.polls) > 1 else self.polls[0]
        if isinstance(step, Exception):
            raise step
        self._current = step
        return step[0]

    async def iter_shards(self, batch_id: str, page_size: int | None = None) -> AsyncIterator[ShardDetails]:
        assert self._current is not None
        for shard in self._current[1]:
            yield shard


def sync_shards(shards: list[ShardDetails]) -> Any:
    def iterate(*args: Any, **kwargs: Any) -> Iterator[ShardDetails]:
        return iter(shards)

    return iterate
