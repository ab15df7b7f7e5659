"""Whose results a destination holds: an earlier attempt of the same interval is not someone else."""

from __future__ import annotations

import json

from include.roboflow_batch.export.ownership import foreign_manifest_problem
from include.roboflow_batch.jobs.ledger import JobHistory

HISTORY = JobHistory.from_entries(
    [
        {
            "action": "create",
            "job_id": "win-a2",
            "attempt": 2,
            "seen": [{"job_id": "win", "attempt": 1, "state": "succeeded, results expired"}],
        }
    ]
)
URI = "file:///out/manifest.json"


def earlier(batch_id: str) -> str:
    return json.dumps({"job_id": "win", "ingested": {"batch_id": batch_id}})


def test_a_new_attempt_replaces_the_results_of_an_earlier_one_on_the_same_batch() -> None:
    assert (
        foreign_manifest_problem(
            earlier("batch-1"), uri=URI, job_id="win-a2", batch_id="batch-1", related=HISTORY.job_ids()
        )
        is None
    )


def test_also_when_it_ran_on_the_batch_staged_again_under_another_id() -> None:
    # The first batch expired and Roboflow kept its id: the data was staged again as another batch.
    assert (
        foreign_manifest_problem(
            earlier("batch-1"),
            uri=URI,
            job_id="win-a2",
            batch_id="batch-1-staging-2",
            related=HISTORY.job_ids(),
        )
        is None
    )


def test_another_jobs_results_are_refused() -> None:
    problem = foreign_manifest_problem(
        earlier("batch-1"), uri=URI, job_id="other", batch_id="batch-1", related=set()
    )
    assert problem is not None and "belongs to job 'win'" in problem
