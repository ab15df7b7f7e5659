from __future__ import annotations

import time
from typing import Any
from unittest import mock

import pytest
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)

from include.roboflow_batch.api.client import RoboflowClient
from include.roboflow_batch.api.errors import NotFoundError, ServerError
from include.roboflow_batch.sensors.batch_ready import RoboflowBatchReadySensor, validate_ready_event
from include.roboflow_batch.triggers.batch_ready import RoboflowBatchReadyTrigger
from tests.unit.ingest.readiness_fakes import make_shard, sync_shards


@pytest.fixture
def client():
    fake = mock.create_autospec(RoboflowClient, instance=True)
    with mock.patch("include.roboflow_batch.sensors.batch_ready.RoboflowHook") as hook_cls:
        hook_cls.return_value.get_client.return_value = fake
        yield fake


def set_state(client: mock.MagicMock, staged: int, shards: list) -> None:
    client.count_batch.return_value = staged
    client.iter_shards.side_effect = sync_shards(shards)


def make_sensor(**kwargs: Any) -> RoboflowBatchReadySensor:
    params: dict[str, Any] = {"task_id": "ready", "batch_id": "b-1", "expected_count": 10, "timeout": 600}
    params.update(kwargs)
    return RoboflowBatchReadySensor(**params)


def success_event(**overrides: Any) -> dict[str, Any]:
    event = {
        "status": "success",
        "message": "ingest settled",
        "batch_id": "b-1",
        "expected": 10,
        "staged": 9,
        "failed_count": 1,
        "failed": [{"file_name": "x.jpg", "type": "file-not-reachable", "reason": "404"}],
        "failed_by_type": {"file-not-reachable": 1},
        "failure_rate": 0.1,
    }
    return event | overrides


def test_defers_with_the_right_trigger_when_not_ready(client, context) -> None:
    set_state(client, 3, [make_shard("info", 10, 3)])
    sensor = make_sensor(expected_count=10, roboflow_conn_id="rf", poke_interval=9)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, RoboflowBatchReadyTrigger)
    assert deferred.value.method_name == "execute_complete"
    kwargs = trigger.serialize()[1]
    assert (kwargs["batch_id"], kwargs["expected_count"], kwargs["roboflow_conn_id"]) == ("b-1", 10, "rf")
    assert kwargs["poll_interval"] == 9
    assert before + 600 <= kwargs["end_time"] <= time.time() + 600


def test_returns_at_once_when_already_ready(client, context) -> None:
    set_state(client, 10, [make_shard("success", 10, 10)])
    summary = make_sensor().execute(context)
    client.close.assert_called_once()
    assert summary == {
        "batch_id": "b-1",
        "expected": 10,
        "staged": 10,
        "failed_count": 0,
        "failed": [],
        "failed_by_type": {},
        "failure_rate": 0.0,
    }


def test_fails_at_once_when_failures_exceed_the_tolerance(client, context) -> None:
    failures = [(f"f{i}.jpg", "unsafe-url-detected") for i in range(2)]
    set_state(client, 8, [make_shard("warning", 10, 8, failures)])
    with pytest.raises(
        AirflowFailException, match=r"2 of 10 files failed .*20\.00% > max_failure_rate 10\.00%"
    ):
        make_sensor(max_failure_rate=0.1).execute(context)
    assert make_sensor(max_failure_rate=0.2).execute(context)["failed_count"] == 2


def test_the_failure_names_the_first_twenty_files_with_their_reasons_and_the_total(client, context) -> None:
    failures = [(f"cam-{i:02d}.jpg", "file-not-reachable") for i in range(25)]
    set_state(client, 75, [make_shard("warning", 100, 75, failures)])
    with pytest.raises(AirflowFailException) as failure:
        make_sensor(expected_count=100, max_failure_rate=0.1).execute(context)
    message = str(failure.value)
    assert "25 of 100 files failed" in message
    named = [f"cam-{i:02d}.jpg: file-not-reachable" for i in range(20)]
    assert all(name in message for name in named)
    assert "cam-20.jpg" not in message
    assert message.endswith("... and 5 more")


def test_poke_mode_waits_then_returns_the_summary(client, context) -> None:
    sensor = make_sensor(deferrable=False, mode="reschedule")
    set_state(client, 2, [make_shard("info", 10, 2)])
    assert sensor.poke(context) is False
    set_state(client, 10, [make_shard("success", 10, 10)])
    result = sensor.poke(context)
    assert isinstance(result, PokeReturnValue) and result.is_done
    assert result.xcom_value["staged"] == 10


def test_a_batch_that_does_not_exist_yet_is_not_ready(client, context) -> None:
    client.count_batch.side_effect = NotFoundError("no batch", status_code=404)
    assert make_sensor(deferrable=False).poke(context) is False


def test_transient_poll_errors_mean_not_ready_yet(client, context) -> None:
    client.count_batch.side_effect = ServerError("busy", status_code=502)
    assert make_sensor(deferrable=False).poke(context) is False


@pytest.mark.parametrize("rate", [-0.1, 1.5, "0.1", True])
def test_max_failure_rate_is_checked(client, context, rate: Any) -> None:
    with pytest.raises(AirflowFailException, match="max_failure_rate"):
        make_sensor(max_failure_rate=rate).execute(context)


@pytest.mark.parametrize("expected", ["ten", "10", "None", -1, 2.5, True])
def test_expected_count_is_checked(client, context, expected: Any) -> None:
    with pytest.raises(AirflowFailException, match="expected_count"):
        make_sensor(expected_count=expected).execute(context)


def test_unknown_expected_count_is_taken_from_the_service(client, context) -> None:
    set_state(client, 5, [make_shard("success", 5, 5)])
    assert make_sensor(expected_count=None).execute(context)["expected"] == 5


def test_execute_complete_accepts_a_success_within_tolerance(context) -> None:
    summary = make_sensor(max_failure_rate=0.1).execute_complete(context, success_event())
    assert summary["failed_count"] == 1
    assert "status" not in summary and "message" not in summary


def test_execute_complete_fails_a_success_above_tolerance(context) -> None:
    with pytest.raises(AirflowFailException, match="max_failure_rate"):
        make_sensor(max_failure_rate=0.05).execute_complete(context, success_event())


def test_execute_complete_turns_timeout_into_sensor_timeout_or_skip(context) -> None:
    event = {"status": "timeout", "message": "not ready before the deadline", "batch_id": "b-1"}
    with pytest.raises(AirflowSensorTimeout, match="deadline"):
        make_sensor().execute_complete(context, event)
    # The Task SDK resumes a deferred sensor through resume_execution, which applies soft_fail.
    with pytest.raises(AirflowSkipException):
        make_sensor(soft_fail=True).resume_execution("execute_complete", {"event": event}, context)


def test_execute_complete_raises_the_error_message(context) -> None:
    with pytest.raises(AirflowException, match="bad key"):
        make_sensor().execute_complete(context, {"status": "error", "message": "bad key", "batch_id": "b-1"})


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (None, "no event"),
        ("success", "not a dict"),
        ({"status": "done", "message": "?", "batch_id": "b"}, "unknown status 'done'"),
        ({"status": "error", "batch_id": "b"}, "lacks message"),
        ({k: v for k, v in success_event().items() if k != "staged"}, "lacks staged"),
        (success_event(failed_count="1"), "malformed failed_count"),
        (success_event(expected=True), "malformed expected"),
    ],
)
def test_malformed_events_are_errors(event: Any, message: str) -> None:
    with pytest.raises(AirflowException, match=message):
        validate_ready_event(event)
