"""Whose results a destination holds: an earlier attempt of the same interval is not someone else."""

from __future__ import annotations

import json

from include.roboflow_batch.export.ownership import foreign_manifest_problem, related_jobs

HISTORY = [
    {
        "action": "create",
        "job_id": "win-a2",
        "attempt": 2,
        "seen": [{"job_id": "win", "attempt": 1, "state": "succeeded, results expired"}],
    }
]
EARLIER = json.dumps({"job_id": "win", "ingested": {"batch_id": "batch-1"}})


def test_the_attempts_of_the_interval_are_read_from_a_list_or_its_json_text() -> None:
    assert related_jobs(HISTORY) == related_jobs(json.dumps(HISTORY)) == {"win", "win-a2"}
    assert related_jobs("not json") == related_jobs(None) == set()


def test_a_new_attempt_may_replace_the_results_of_an_earlier_one(tmp_path: object) -> None:
    # A mapped export receives the history as JSON text (a template's rendering).
    problem = foreign_manifest_problem(
        EARLIER,
        uri="file:///out/manifest.json",
        job_id="win-a2",
        batch_id="batch-1",
        related=related_jobs(json.dumps(HISTORY)),
    )
    assert problem is None


def test_another_jobs_results_are_refused() -> None:
    problem = foreign_manifest_problem(
        EARLIER, uri="file:///out/manifest.json", job_id="other", batch_id="batch-1", related=set()
    )
    assert problem is not None and "belongs to job 'win'" in problem
