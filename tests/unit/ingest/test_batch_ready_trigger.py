from __future__ import annotations

import asyncio
import time
from unittest import mock

import pytest
from airflow.sdk import serde

from include.roboflow_batch.api.errors import ServerError, UnauthorizedError
from include.roboflow_batch.triggers.batch_ready import RoboflowBatchReadyTrigger
from tests.unit.ingest.readiness_fakes import ScriptedAsyncClient, make_shard

CLASSPATH = "include.roboflow_batch.triggers.batch_ready.RoboflowBatchReadyTrigger"


def make_trigger(expected: int | None = 4, end_in: float = 60.0) -> RoboflowBatchReadyTrigger:
    return RoboflowBatchReadyTrigger(
        batch_id="b-1",
        expected_count=expected,
        end_time=time.time() + end_in,
        roboflow_conn_id="rf",
        poll_interval=0.01,
    )


def patch_client(client: ScriptedAsyncClient):
    patcher = mock.patch("include.roboflow_batch.triggers.batch_ready.RoboflowHook")
    hook_cls = patcher.start()
    hook_cls.return_value.aget_client = mock.AsyncMock(return_value=client)
    return patcher, hook_cls


@pytest.fixture
def scripted():
    patchers = []

    def install(polls):
        client = ScriptedAsyncClient(polls)
        patcher, hook_cls = patch_client(client)
        patchers.append(patcher)
        return client, hook_cls

    yield install
    for patcher in patchers:
        patcher.stop()


def test_serialize_round_trips_through_serde_and_the_constructor() -> None:
    trigger = RoboflowBatchReadyTrigger(
        batch_id="b-1",
        expected_count=None,
        end_time=1_800_000_000.5,
        roboflow_conn_id="rf",
        poll_interval=7.0,
        notification_check_interval=1.5,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    restored_kwargs = serde.deserialize(serde.serialize(kwargs))
    assert restored_kwargs == kwargs
    rebuilt = RoboflowBatchReadyTrigger(**restored_kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert "password" not in str(kwargs) and "api_key" not in str(kwargs)


async def test_yields_one_success_event_once_settled(scripted) -> None:
    client, hook_cls = scripted(
        [
            (1, [make_shard("info", 4, 0)]),
            (3, [make_shard("warning", 4, 3, [("big.jpg", "file-size-limit-exceeded")])]),
        ]
    )
    events = [e async for e in make_trigger().run()]
    assert len(events) == 1
    payload = events[0].payload
    assert payload["status"] == "success"
    assert (payload["expected"], payload["staged"], payload["failed_count"]) == (4, 3, 1)
    assert payload["failed"] == [
        {"file_name": "big.jpg", "type": "file-size-limit-exceeded", "reason": "file-size-limit-exceeded!"}
    ]
    assert payload["failure_rate"] == 0.25
    assert client.count_calls == 2
    assert client.closed
    hook_cls.assert_called_once_with(roboflow_conn_id="rf")


async def test_times_out_with_the_last_counts(scripted) -> None:
    scripted([(1, [make_shard("info", 4, 1)])])
    events = [e async for e in make_trigger(end_in=0.05).run()]
    assert len(events) == 1
    payload = events[0].payload
    assert payload["status"] == "timeout"
    assert payload["staged"] == 1
    assert "1 still indexing" in payload["message"]


async def test_transient_errors_are_polled_through(scripted) -> None:
    client, _ = scripted([ServerError("busy", status_code=503), (4, [make_shard("success", 4, 4)])])
    events = [e async for e in make_trigger().run()]
    assert [e.payload["status"] for e in events] == ["success"]
    assert client.count_calls == 2


async def test_permanent_errors_end_in_one_error_event(scripted) -> None:
    scripted([UnauthorizedError("bad key", status_code=401)])
    events = [e async for e in make_trigger().run()]
    assert len(events) == 1
    assert events[0].payload["status"] == "error"
    assert "bad key" in events[0].payload["message"]


async def test_keeps_waiting_while_files_are_missing(scripted) -> None:
    scripted([(2, [make_shard("success", 2, 2)])])
    task = asyncio.create_task(make_trigger(expected=5).run().__anext__())
    await asyncio.sleep(0.1)
    assert not task.done()
    task.cancel()
