"""The local-directory window of the ingest operator: the data interval, or explicit (templated) overrides."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.roboflow_batch.api.client import RoboflowClient
from include.roboflow_batch.api.errors import NotFoundError
from include.roboflow_batch.operators.ingest import RoboflowIngestOperator
from tests.unit.ingest.task_context import INTERVAL, make_context

pytestmark = pytest.mark.usefixtures("arrival_by_mtime")

BATCH = "unit-batch"
LAST_WEEK = (INTERVAL[0] - timedelta(days=7), INTERVAL[0] - timedelta(days=6))


@pytest.fixture
def client() -> Iterator[mock.MagicMock]:
    fake = mock.create_autospec(RoboflowClient, instance=True)
    fake.get_batch.side_effect = NotFoundError("no such batch", status_code=404)
    with mock.patch("include.roboflow_batch.operators.base.RoboflowHook") as hook_cls:
        hook_cls.return_value.get_client.return_value = fake
        yield fake


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    """One image modified last week, one inside the run's data interval."""
    directory = tmp_path / "drop"
    directory.mkdir()
    for name, moment in (("old.jpg", LAST_WEEK[0] + timedelta(hours=1)), ("new.jpg", INTERVAL[0])):
        path = directory / name
        path.write_bytes(b"\xff\xd8 image")
        os.utime(path, (moment.timestamp(), moment.timestamp()))
    return directory


def uploaded(client: mock.MagicMock) -> list[str]:
    return sorted(call.args[1] for call in client.upload_image.call_args_list)


def ingest(drop: Path, **kwargs: Any) -> RoboflowIngestOperator:
    return RoboflowIngestOperator(task_id="ingest", batch_id=BATCH, local_directory=str(drop), **kwargs)


def test_explicit_window_replaces_the_data_interval(client: mock.MagicMock, drop: Path) -> None:
    operator = ingest(
        drop,
        select="interval",
        interval_start=LAST_WEEK[0].isoformat(),
        interval_end=LAST_WEEK[1].isoformat(),
    )

    summary = operator.execute(make_context(interval=INTERVAL))

    assert uploaded(client) == ["old.jpg"]
    assert summary["expected_count"] == 1


def test_explicit_window_serves_a_run_without_data_interval(client: mock.MagicMock, drop: Path) -> None:
    operator = ingest(drop, select="interval", interval_start=INTERVAL[0], interval_end=INTERVAL[1])

    operator.execute(make_context(interval=None))

    assert uploaded(client) == ["new.jpg"]


def test_select_all_ignores_any_window(client: mock.MagicMock, drop: Path) -> None:
    operator = ingest(drop, select="all", interval_start=None, interval_end=INTERVAL[1].isoformat())

    operator.execute(make_context(interval=INTERVAL))

    assert uploaded(client) == ["new.jpg", "old.jpg"]


def test_empty_explicit_window_skips_naming_it(client: mock.MagicMock, drop: Path) -> None:
    start, end = datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 1, 2, tzinfo=UTC)
    operator = ingest(drop, select="interval", interval_start=start, interval_end=end)

    with pytest.raises(AirflowSkipException, match=r"modified in \[2020-01-01"):
        operator.execute(make_context(interval=INTERVAL))
    client.upload_image.assert_not_called()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"interval_start": INTERVAL[0].isoformat()},
            "interval_start and interval_end must be given together",
        ),
        (
            {"interval_start": "yesterday", "interval_end": "today"},
            "interval_start: 'yesterday' is not an ISO 8601",
        ),
        (
            {"interval_start": INTERVAL[1].isoformat(), "interval_end": INTERVAL[0].isoformat()},
            "selection window is empty",
        ),
    ],
)
def test_bad_window_fails_naming_the_field(
    client: mock.MagicMock, drop: Path, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(AirflowFailException, match=message):
        ingest(drop, select="interval", **overrides).execute(make_context(interval=INTERVAL))
    client.upload_image.assert_not_called()


def test_select_and_window_are_rendered_from_templates(client: mock.MagicMock, drop: Path) -> None:
    operator = ingest(
        drop,
        select="{{ params.select }}",
        interval_start="{{ params.start }}",
        interval_end="{{ params.end }}",
    )
    context = make_context(interval=INTERVAL) | {
        "params": {"select": "interval", "start": LAST_WEEK[0].isoformat(), "end": LAST_WEEK[1].isoformat()}
    }

    operator.render_template_fields(context)
    operator.execute(context)

    assert operator.select == "interval"
    assert uploaded(client) == ["old.jpg"]


def test_without_a_file_list_the_entries_not_sent_are_reported(client: mock.MagicMock, drop: Path) -> None:
    (drop / "empty.jpg").write_bytes(b"")
    (drop / "notes.txt").write_text("text")

    summary = ingest(drop, select="all").execute(make_context(interval=INTERVAL))

    assert uploaded(client) == ["new.jpg", "old.jpg"]  # the empty image is not uploaded to be refused
    assert (summary["skipped_count"], summary["skipped"]) == (
        2,
        {"empty-file": 1, "unsupported-file-type": 1},
    )


def test_a_file_list_sends_exactly_its_files_whatever_the_window(
    client: mock.MagicMock, drop: Path, tmp_path: Path
) -> None:
    listing = tmp_path / "files.chunk-0001.jsonl"
    listing.write_text('"old.jpg"\n')
    operator = ingest(drop, select="all", local_file_list=listing.as_uri())

    summary = operator.execute(make_context(interval=INTERVAL))

    assert uploaded(client) == ["old.jpg"]
    assert summary["expected_count"] == 1
    assert "skipped_count" not in summary  # the listing that wrote the list accounted for the rest


def test_a_damaged_file_list_fails_without_sending_anything(
    client: mock.MagicMock, drop: Path, tmp_path: Path
) -> None:
    listing = tmp_path / "files.jsonl"
    listing.write_text('"new.jpg"\n"../drop/old.jpg"\n')
    operator = ingest(drop, select="all", local_file_list=str(listing))

    with pytest.raises(AirflowFailException, match="line 2: not a plain file name"):
        operator.execute(make_context(interval=INTERVAL))

    assert uploaded(client) == []
