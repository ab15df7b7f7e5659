"""Drive the sync and the async client through one test body.

``ClientDriver.call("get_batch", "b1")`` calls the method on either client and returns a plain
value: awaited for the async client, iterators collected into lists for both.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from include.roboflow_batch.api import AsyncRoboflowClient, RetryPolicy, RoboflowClient

CLIENT_KINDS = ("sync", "async")
# Enough threads for a sync client to overlap as many calls as the async one.
_THREADS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="sync-client")
# No sleeping between attempts: tests stay fast and never depend on timing.
FAST_RETRIES = RetryPolicy(
    max_retries=4, initial_backoff=0.0, max_backoff=0.0, jitter=0.0, max_retry_after=2.0
)


class ClientDriver:
    def __init__(self, client: RoboflowClient | AsyncRoboflowClient) -> None:
        self.client = client
        self.is_async = isinstance(client, AsyncRoboflowClient)

    async def call(self, method_name: str, /, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.client, method_name)(*args, **kwargs)
        if inspect.isasyncgen(result):
            return [item async for item in result]
        if inspect.isawaitable(result):
            return await result
        if isinstance(result, Iterator):
            return list(result)
        return result

    async def call_in_parallel(self, method_name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Like ``call``, but a sync client runs in a worker thread so that calls can overlap."""
        if self.is_async:
            return await self.call(method_name, *args, **kwargs)

        def run() -> Any:
            result = getattr(self.client, method_name)(*args, **kwargs)
            return list(result) if isinstance(result, Iterator) else result

        return await asyncio.get_running_loop().run_in_executor(_THREADS, run)

    async def close(self) -> None:
        if isinstance(self.client, AsyncRoboflowClient):
            await self.client.aclose()
        else:
            self.client.close()


def make_client(kind: str, base_url: str, api_key: str, **kwargs: Any) -> ClientDriver:
    kwargs.setdefault("retry_policy", FAST_RETRIES)
    cls = AsyncRoboflowClient if kind == "async" else RoboflowClient
    return ClientDriver(cls(base_url, api_key, **kwargs))
