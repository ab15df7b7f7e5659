"""Roboflow keeps staged data and job results for 7 days: what a step says when they are gone.

The service answers 404 for a batch past its retention, the same as for one that never existed; the
step that meets it knows which batch it expected and when it was made, and says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta

#: How long Roboflow keeps staged batches and job output batches (docs/roboflow-api.md §7).
RETENTION = timedelta(days=7)

RERUN_ADVICE = (
    "Re-run this interval from its first task (clear the whole DAG run): its data is staged again and "
    "a new job processes it."
)


def _moment(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def expired_results_message(job_id: str, batch_id: str, stage: str, stage_started: datetime) -> str:
    """An output batch of a finished job is gone."""
    return (
        f"Output batch {batch_id!r} of Roboflow job {job_id} no longer exists: Roboflow keeps job "
        f"results for 7 days, and the job's {stage!r} stage that wrote them started at "
        f"{_moment(stage_started)}, so they expired at about {_moment(stage_started + RETENTION)}. "
        f"They cannot be exported any more. {RERUN_ADVICE}"
    )


def expired_input_message(job_id: str, batch_id: str, job_created: datetime) -> str:
    """The input batch of a job is gone (it was staged before the job was created)."""
    return (
        f"Input batch {batch_id!r} of Roboflow job {job_id} no longer exists: Roboflow keeps staged data "
        f"for 7 days, and it was staged before the job was created at {_moment(job_created)}, so it "
        f"expired by {_moment(job_created + RETENTION)}. {RERUN_ADVICE}"
    )
