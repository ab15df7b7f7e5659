"""The Roboflow side: the key is valid, the workspace has Batch Processing, and it has credits.

Credits cannot be read from the API. The service checks them before it checks for a duplicate job,
so repeating the creation of a job this pipeline already created, with the definition the service
holds for it, answers "duplicate" when there are credits and the credits error when there are none,
and creates nothing either way (it is what a retry of that creation would send). Before the
pipeline's first job there is nothing to repeat: the check is skipped and the first creation tells.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from include.roboflow_batch.api.errors import (
    ConflictError,
    CreditsExhaustedError,
    FeatureNotEnabledError,
    NotFoundError,
    RoboflowAPIError,
    UnauthorizedError,
)
from include.roboflow_batch.api.models import JobMetadata
from include.roboflow_batch.preflight.report import BATCH_PROCESSING, CREDITS, ROBOFLOW_KEY, CheckResult


class RoboflowProbe(Protocol):
    """The calls the checks make (``RoboflowClient`` has them)."""

    def get_workspace(self) -> str: ...

    def lookup_workspace(self) -> str: ...

    def iter_jobs(self, page_size: int | None = None) -> Iterator[JobMetadata]: ...

    def get_job(self, job_id: str) -> JobMetadata: ...

    def create_job(self, job_id: str, body: Mapping[str, Any], name: str | None = None) -> None: ...


def check_roboflow(client: RoboflowProbe, conn_id: str, earlier_job_id: str | None) -> list[CheckResult]:
    """``roboflow-key``, ``batch-processing`` and ``credits``."""
    connection = f"connection {conn_id!r}"
    try:
        configured = client.get_workspace()  # the connection's own, before the lookup replaces it
        workspace = client.lookup_workspace()  # the root lookup: the key itself is checked
    except UnauthorizedError as exc:
        return [
            CheckResult(
                ROBOFLOW_KEY,
                "failed",
                f"Roboflow refused the API key of {connection} (401: {exc.message}).",
                f"put the workspace's private API key in the password of {connection}.",
            )
        ]
    if configured != workspace:
        return [
            CheckResult(
                ROBOFLOW_KEY,
                "failed",
                f"the API key of {connection} belongs to workspace {workspace!r}, but the connection names "
                f"workspace {configured!r}.",
                f"correct the 'workspace' extra of {connection}, or use that workspace's key.",
            )
        ]
    results = [CheckResult(ROBOFLOW_KEY, "ok", f"the API key of {connection} opens workspace {workspace!r}.")]
    try:
        next(client.iter_jobs(page_size=1), None)
    except FeatureNotEnabledError as exc:
        results.append(
            CheckResult(
                BATCH_PROCESSING,
                "failed",
                f"workspace {workspace!r} has no Batch Processing (402: {exc.message}).",
                "Batch Processing needs a Growth or Enterprise plan; upgrade the workspace or use another "
                f"workspace's key in {connection}.",
            )
        )
        return results
    except CreditsExhaustedError as exc:
        results.append(_no_credits(workspace, exc))
        return results
    results.append(CheckResult(BATCH_PROCESSING, "ok", f"workspace {workspace!r} has Batch Processing."))
    results.append(_credits(client, workspace, earlier_job_id))
    return results


def _no_credits(workspace: str, exc: RoboflowAPIError) -> CheckResult:
    return CheckResult(
        CREDITS,
        "failed",
        f"workspace {workspace!r} has no credits left ({exc.status_code}: {exc.message}).",
        "add credits on the workspace's billing page, then clear this run.",
    )


def _credits(client: RoboflowProbe, workspace: str, earlier_job_id: str | None) -> CheckResult:
    if earlier_job_id is None:
        return CheckResult(
            CREDITS,
            "skipped",
            "no earlier job of this pipeline to ask with; the first job creation will tell.",
        )
    try:
        job = client.get_job(earlier_job_id)
        client.create_job(earlier_job_id, dict(job.job_definition), name=job.name)
    except CreditsExhaustedError as exc:
        return _no_credits(workspace, exc)
    except (NotFoundError, ConflictError) as exc:
        return CheckResult(
            CREDITS,
            "skipped",
            f"could not ask with job {earlier_job_id} ({exc.status_code}); the job creation will tell.",
        )
    return CheckResult(
        CREDITS,
        "ok",
        f"workspace {workspace!r} has credits (the service took a repeat of job {earlier_job_id}'s creation "
        "as a duplicate).",
    )
