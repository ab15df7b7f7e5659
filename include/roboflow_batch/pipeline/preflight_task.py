"""The ``preflight`` task: before anything is listed, staged or spent, check what would only show later.

A few requests: one listing page of the source and a few signed URLs fetched like Roboflow fetches
them, a marker written and deleted in the references location and in the destination, the key,
Batch Processing and credits of the workspace, the webhook's host. A failure fails the run naming
the pipeline, the check and the fix; a dry run reports it in its plan instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

from include.roboflow_batch.preflight.report import (
    DESTINATION_WRITABLE,
    REFERENCES_WRITABLE,
    SIGNED_URLS_FETCHABLE,
    SOURCE_LISTABLE,
    CheckResult,
    PreflightReport,
)


class PreflightSpec(TypedDict):
    """What the factory hands the task (JSON-able: it is part of the serialized DAG)."""

    pipeline_id: str
    enabled: bool
    sample_urls: int
    private_endpoints: str
    media_type: str
    # The references operator's source arguments (bucket, prefix, connections), or a local directory.
    source: dict[str, Any]
    local_directory: str | None
    state_directory: str | None
    references_conn_id: str | None
    destination_conn_id: str | None
    roboflow_conn_id: str
    webhook_url: str | None
    spend_policy: dict[str, Any]


def _probe(spec: PreflightSpec) -> Any:
    """The pipeline's own references operator, unattached to any DAG: its listing and its signer."""
    from include.roboflow_batch.operators.references import GCSReferencesOperator, S3ReferencesOperator

    source = dict(spec["source"])
    kind = source.pop("kind")
    operator = S3ReferencesOperator if kind == "s3" else GCSReferencesOperator
    return operator(task_id="preflight_probe", destination="file:///dev/null", **source)


def _folder_of(uri: str, conn_id: str | None) -> Any:
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath(uri, conn_id=conn_id)
    return path if uri.endswith("/") else path.parent


def _source_checks(spec: PreflightSpec, plan: dict[str, Any]) -> list[CheckResult]:
    from include.roboflow_batch.preflight.source import check_source
    from include.roboflow_batch.references.window import SelectionWindow, resolve_window

    window = (
        SelectionWindow()
        if plan["select"] == "all"
        else resolve_window("interval", {}, plan["window_start"], plan["window_end"])
    )
    if spec["local_directory"] is not None:
        directory = Path(spec["local_directory"])
        if directory.is_dir():
            return [
                CheckResult(SOURCE_LISTABLE, "ok", f"{directory} is a readable directory."),
                CheckResult(
                    SIGNED_URLS_FETCHABLE,
                    "skipped",
                    "a local directory's files are uploaded, not fetched by URL.",
                ),
            ]
        return [
            CheckResult(
                SOURCE_LISTABLE,
                "failed",
                f"{directory} is not a directory this worker can read.",
                "mount the source directory on every worker at the path astro.yaml gives (source.directory).",
            )
        ]
    return check_source(
        _probe(spec),
        conn_id=spec["source"].get("aws_conn_id") or spec["source"].get("gcp_conn_id"),
        media_type="videos" if spec["media_type"] == "videos" else "images",
        window=window,
        sample_urls=spec["sample_urls"],
        private_endpoints="warn" if spec["private_endpoints"] == "warn" else "fail",
    )


def _storage_checks(spec: PreflightSpec, plan: dict[str, Any]) -> list[CheckResult]:
    from airflow.sdk import ObjectStoragePath

    from include.roboflow_batch.preflight.storage import check_writable

    results = []
    if plan.get("references_uri"):
        folder = _folder_of(plan["references_uri"], spec["references_conn_id"])
        what, fix = "the references location", "give the references connection write access there"
    else:
        folder = ObjectStoragePath(Path(spec["state_directory"] or ".").resolve().as_uri())
        what, fix = "the state directory", "make source.state_directory writable on every worker"
    results.append(check_writable(folder, REFERENCES_WRITABLE, what, fix + " (source.references_uri)."))
    destination = _folder_of(plan["destination"], spec["destination_conn_id"])
    results.append(
        check_writable(
            destination,
            DESTINATION_WRITABLE,
            "the destination",
            "give the export connection write access to export.destination.",
        )
    )
    return results


def _earlier_job(policy: dict[str, Any]) -> str | None:
    """The newest job of this pipeline the spend ledger knows (to ask about credits with)."""
    from datetime import UTC, datetime, timedelta

    from include.roboflow_batch.spend.policy import SpendPolicy

    spend = SpendPolicy.from_dict(policy)
    now = datetime.now(UTC)
    entries = [
        entry
        for entry in spend.ledger().entries(now - timedelta(days=62), now + timedelta(days=1))
        if entry.key.pipeline == spend.pipeline_id
    ]
    return max(entries, key=lambda e: (e.at, e.name)).key.job_id if entries else None


def _roboflow_checks(spec: PreflightSpec) -> list[CheckResult]:
    from include.roboflow_batch.hooks.roboflow import RoboflowHook
    from include.roboflow_batch.preflight.roboflow import check_roboflow

    client = RoboflowHook(roboflow_conn_id=spec["roboflow_conn_id"]).get_client()
    return check_roboflow(client, spec["roboflow_conn_id"], _earlier_job(spec["spend_policy"]))


def preflight_report(spec: PreflightSpec, plan: dict[str, Any]) -> PreflightReport:
    from include.roboflow_batch.preflight.addresses import check_webhook

    report = PreflightReport(spec["pipeline_id"])
    report.add(*_source_checks(spec, plan))
    report.add(*_storage_checks(spec, plan))
    report.add(*_roboflow_checks(spec))
    webhook = check_webhook(spec["webhook_url"], spec["private_endpoints"])
    if webhook is not None:
        report.add(webhook)
    return report


def run_preflight(spec: PreflightSpec, plan: dict[str, Any], **context: Any) -> dict[str, Any]:
    """The ``preflight`` task: the report as XCom; a failed check fails the run (not a dry run's)."""
    import logging

    from airflow.sdk.exceptions import AirflowFailException

    log = logging.getLogger("airflow.task")
    if not spec["enabled"]:
        log.warning(
            "Pre-flight checks are off for pipeline %s (preflight.enabled: false).", spec["pipeline_id"]
        )
        return {"pipeline": spec["pipeline_id"], "passed": True, "checks": [], "enabled": False}
    report = preflight_report(spec, plan)
    for result in report.results:
        level = {"failed": logging.ERROR, "warning": logging.WARNING}.get(result.status, logging.INFO)
        log.log(level, "Pre-flight %s [%s]: %s", result.check, result.status, result.line())
    if not report.passed and not plan.get("dry_run"):
        raise AirflowFailException(report.failure_message())
    return report.to_dict()
