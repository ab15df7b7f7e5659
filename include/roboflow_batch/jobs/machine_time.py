"""Machine time a job used, read only from fields the Batch Processing API returns.

Per task of every stage: from the task's start to its last event (``TaskStatus.eventTimestamp``).
The start is the ``createdAt`` of the first job log naming the task (``JobLog.taskId``); a task no
log names starts, at the earliest, when its stage did (``JobStage.startTimestamp``), which makes the
figure an upper bound for tasks that waited for a machine. Tasks that never started
(``progress`` null) used none. A task still running counts up to the stage's ``lastEventTimestamp``.
Whether the job's ceiling stopped it is read from its logs and notifications (a timeout log type, or
``processingTimeoutSeconds`` in a message).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from include.roboflow_batch.api.models import JobLog, JobMetadata, JobStage, TaskStatus
from include.roboflow_batch.jobs.clients import JobsClient

TIMEOUT_WORDS = ("processingtimeoutseconds", "timeout", "timed out", "time limit")


@dataclass(frozen=True)
class MachineTime:
    """Machine-seconds of a job, per stage, and how they were read."""

    seconds: float
    tasks: int
    by_stage: dict[str, float] = field(default_factory=dict)
    # Tasks whose start came from their stage (no log named them): their time is an upper bound.
    tasks_without_start_log: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "machine_seconds": round(self.seconds, 3),
            "tasks": self.tasks,
            "by_stage": {stage: round(seconds, 3) for stage, seconds in self.by_stage.items()},
            "tasks_without_start_log": self.tasks_without_start_log,
        }


def task_starts(logs: Iterable[JobLog]) -> dict[tuple[str | None, str], datetime]:
    """The first log time of every (stage, task) the logs name."""
    starts: dict[tuple[str | None, str], datetime] = {}
    for log in logs:
        if not log.task_id:
            continue
        key = (log.processing_stage_id, log.task_id)
        if key not in starts or log.created_at < starts[key]:
            starts[key] = log.created_at
    return starts


def measure(
    stages: Sequence[JobStage], tasks: Mapping[str, Sequence[TaskStatus]], logs: Iterable[JobLog]
) -> MachineTime:
    """Machine time from the stages (B4), each stage's tasks (B5) and the job logs (B8)."""
    starts = task_starts(logs)
    total, counted, guessed = 0.0, 0, 0
    by_stage: dict[str, float] = {}
    for stage in stages:
        stage_seconds = 0.0
        for task in tasks.get(stage.processing_stage_id, ()):
            if task.progress is None:
                continue  # never started: no machine ran it
            start = starts.get((stage.processing_stage_id, task.task_id)) or starts.get((None, task.task_id))
            if start is None:
                start, guessed = stage.start_timestamp, guessed + 1
            end = task.event_timestamp if task.status_type != "info" else stage.last_event_timestamp
            stage_seconds += max((end - start).total_seconds(), 0.0)
            counted += 1
        by_stage[stage.processing_stage_name or stage.processing_stage_id] = stage_seconds
        total += stage_seconds
    return MachineTime(total, counted, by_stage, guessed)


def _mentions_timeout(value: object) -> bool:
    text = str(value).lower()
    return any(word in text for word in TIMEOUT_WORDS)


def stopped_by_ceiling(job: JobMetadata, stages: Sequence[JobStage], logs: Iterable[JobLog]) -> bool:
    """The job failed and its error logs or notifications say a processing time limit stopped it."""
    if not (job.is_terminal and job.error):
        return False
    errors = [log for log in logs if log.severity == "error"]
    if any(
        "timeout" in log.log_type.lower() or _mentions_timeout(log.payload.get("message")) for log in errors
    ):
        return True
    notes = [job.last_notification, *(stage.notification for stage in stages)]
    return any(_mentions_timeout(note) for note in notes if note)


@dataclass(frozen=True)
class JobSpend:
    """What the API says a finished job used."""

    job: JobMetadata
    machine_time: MachineTime
    stopped_by_ceiling: bool
    stages: list[JobStage] = field(default_factory=list)


def fetch_job_spend(client: JobsClient, job_id: str) -> JobSpend:
    """B2, B4, B5 per stage and B8: the job, its machine time and whether its ceiling stopped it."""
    job = client.get_job(job_id)
    stages = client.list_job_stages(job_id)
    tasks = {
        stage.processing_stage_id: list(client.iter_stage_tasks(job_id, stage.processing_stage_id))
        for stage in stages
    }
    logs = list(client.iter_job_logs(job_id))
    return JobSpend(job, measure(stages, tasks, logs), stopped_by_ceiling(job, stages, logs), stages)
