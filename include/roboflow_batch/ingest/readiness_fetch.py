"""Fetching how far a staging batch has been indexed: one sync and one async face.

D3 (count the batch's files) and D6 (every page of its shard statuses); a batch the service does not
know yet has nothing staged (its first shard may not be registered). The two faces differ only in
``await``; what the answers mean is decided in ``ingest.readiness``.
"""

from __future__ import annotations

from include.roboflow_batch.api.client import AsyncRoboflowClient, RoboflowClient
from include.roboflow_batch.api.errors import NotFoundError
from include.roboflow_batch.ingest.readiness import ReadinessSnapshot, assess_readiness


def fetch_readiness(client: RoboflowClient, batch_id: str, expected: int | None) -> ReadinessSnapshot:
    """One look at the batch: staged count and shard statuses, judged against ``expected``."""
    try:
        staged = client.count_batch(batch_id)
        shards = list(client.iter_shards(batch_id))
    except NotFoundError:
        staged, shards = 0, []
    return assess_readiness(batch_id, expected, staged, shards)


async def afetch_readiness(
    client: AsyncRoboflowClient, batch_id: str, expected: int | None
) -> ReadinessSnapshot:
    """Async face of :func:`fetch_readiness`."""
    try:
        staged = await client.count_batch(batch_id)
        shards = [shard async for shard in client.iter_shards(batch_id)]
    except NotFoundError:
        staged, shards = 0, []
    return assess_readiness(batch_id, expected, staged, shards)
