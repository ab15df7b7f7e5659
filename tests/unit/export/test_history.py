"""The job history copied into a manifest, as a list or as the JSON text a mapped export renders."""

from __future__ import annotations

import json

import pytest

from include.roboflow_batch.export.history import job_history_entries

HISTORY = [{"event": "created", "job_id": "j-1"}, {"event": "restarted", "job_id": "j-1"}]


def test_a_list_and_its_json_text_give_the_same_history() -> None:
    assert job_history_entries(HISTORY) == HISTORY
    assert job_history_entries(json.dumps(HISTORY)) == HISTORY


@pytest.mark.parametrize("value", [None, "null", "None", "not json", '{"event": "x"}', "[1, 2]", [["x"]]])
def test_no_history_or_a_damaged_one_is_left_out(value: object) -> None:
    assert job_history_entries(value) is None
