"""Batch Processing requests (B1 list jobs ... B8 job logs); see ``endpoints`` for the retry rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from include.roboflow_batch.api import models
from include.roboflow_batch.api.collection import Collection
from include.roboflow_batch.api.ids import validate_job_id
from include.roboflow_batch.api.jobs import RestartOverrides
from include.roboflow_batch.api.request_spec import (
    PageSpec,
    RequestSpec,
    Retry,
    get_request,
    ignore_body,
    json_object,
    list_request,
    path_segment,
    processing_path,
    query_params,
)

LOG_SEVERITIES = ("info", "error", "warning")


def _job_of(payload: Any) -> models.JobMetadata:
    return models.JobEnvelope.model_validate(payload).job


JOBS = Collection("job", "jobs", ("B1", "B2"), processing_path, models.JobsPage.model_validate, _job_of)
list_jobs = JOBS.list
get_job = JOBS.get


def create_job(
    workspace: str, job_id: str, body: Mapping[str, Any], name: str | None = None
) -> RequestSpec[None]:
    validate_job_id(job_id)
    if not isinstance(body, Mapping) or not body.get("type"):
        raise ValueError("body must be a job definition with a 'type' (see WorkflowJobSpec.to_body)")
    return RequestSpec(
        operation=f"create job {job_id!r} (B3)",
        method="POST",
        path=JOBS.item_path(workspace, job_id),
        params=query_params(name=name),
        json=dict(body),
        decode=ignore_body,
        retry=Retry.SAFE,
        expects_json=False,
    )


def list_job_stages(workspace: str, job_id: str) -> RequestSpec[list[models.JobStage]]:
    return get_request(
        f"list stages of job {job_id!r} (B4)",
        f"{JOBS.item_path(workspace, job_id)}/stages",
        lambda payload: models.StagesEnvelope.model_validate(payload).stages,
    )


def list_stage_tasks(workspace: str, job_id: str, stage_id: str) -> PageSpec[models.TaskStatus]:
    return list_request(
        f"list tasks of stage {stage_id!r} of job {job_id!r} (B5)",
        f"{JOBS.item_path(workspace, job_id)}/stages/{path_segment('stage_id', stage_id)}/tasks",
        models.TasksPage.model_validate,
    )


def abort_job(workspace: str, job_id: str) -> RequestSpec[dict[str, Any]]:
    return RequestSpec(
        operation=f"abort job {job_id!r} (B6)",
        method="POST",
        path=f"{JOBS.item_path(workspace, job_id)}/abort",
        decode=json_object,
        retry=Retry.SAFE,
    )


def restart_job(
    workspace: str, job_id: str, overrides: RestartOverrides | None = None
) -> RequestSpec[dict[str, Any]]:
    return RequestSpec(
        operation=f"restart job {job_id!r} (B7)",
        method="POST",
        path=f"{JOBS.item_path(workspace, job_id)}/restart",
        json=overrides.to_body() if overrides is not None else None,
        decode=json_object,
        retry=Retry.UNAMBIGUOUS,
    )


def list_job_logs(workspace: str, job_id: str, severity: str | None = None) -> PageSpec[models.JobLog]:
    if severity is not None and severity not in LOG_SEVERITIES:
        raise ValueError(f"severity must be one of {list(LOG_SEVERITIES)}, got {severity!r}")
    return list_request(
        f"list logs of job {job_id!r} (B8)",
        f"{JOBS.item_path(workspace, job_id)}/logs",
        models.LogsPage.model_validate,
        severity=severity,
    )
