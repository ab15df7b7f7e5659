"""Finished windows as Asset events: each pipeline declares one results Asset, and every window whose
manifest reconciles adds one event (from ``reconcile``) whose extra is the manifest summary, so other
DAGs can be scheduled on "new results landed" and read where they are and whether they reconcile."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow.sdk import Asset

RESULTS_ASSET_PREFIX = "roboflow_results__"


def results_asset(pipeline_id: str) -> Asset:
    """The Asset a pipeline's export updates (``roboflow://results/<pipeline id>``)."""
    return Asset(
        name=f"{RESULTS_ASSET_PREFIX}{pipeline_id}", uri=f"roboflow://results/{pipeline_id}", group="roboflow"
    )


def results_event_extra(
    manifest: Mapping[str, Any], summary: Mapping[str, Any], skipped_count: int | None
) -> dict[str, Any]:
    """The manifest summary a downstream DAG reads from ``triggering_asset_events``."""
    failed = manifest["failed"]["count"] + manifest["processing_failed"]["count"]
    return {
        "destination": summary["destination"],
        "manifest_uri": summary["manifest_uri"],
        "rows": summary["result_rows"],
        "objects": {
            "processed": manifest["ingested"]["count"] - manifest["processing_failed"]["count"],
            "failed": failed,
            "skipped": skipped_count or 0,
        },
        "job_id": manifest["job_id"],
        "batch_id": manifest["ingested"]["batch_id"],
        "reconciled": summary["reconciled"],
        # The job's estimate, ceiling and measured machine time and credits (when the pipeline
        # accounts for its spending).
        "spend": manifest.get("spend"),
        **answer_extra(manifest),
    }


def answer_extra(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """Which attempt's answer the destination holds, and the earlier answer it replaced (if any)."""
    extra: dict[str, Any] = {"attempt": manifest.get("attempt", 1)}
    if manifest.get("replaces"):
        extra["replaces"] = manifest["replaces"]
    return extra


def emit_results_event(context: Mapping[str, Any], outlets: Iterable[Any], extra: Mapping[str, Any]) -> bool:
    """Put ``extra`` on the event of every results Asset among ``outlets``; False when there is none."""
    emitted = False
    for outlet in outlets:
        if isinstance(outlet, Asset) and outlet.name.startswith(RESULTS_ASSET_PREFIX):
            context["outlet_events"][outlet].extra.update(extra)
            emitted = True
    return emitted


def emit_export_event(
    context: Mapping[str, Any],
    outlets: Iterable[Any],
    manifest: Mapping[str, Any] | None,
    summary: Mapping[str, Any],
    skipped_count: int | None,
) -> bool:
    """The export's results Asset event, once its manifest is written (``skipped_count``: the listing's,
    None without a listing step)."""
    if manifest is None:
        return False
    return emit_results_event(context, outlets, results_event_extra(manifest, summary, skipped_count))


class ResultsEventMixin:
    """What the export operator adds for the rest of Airflow: its results Asset event.

    The operator sets ``_manifest`` once the manifest is written and passes its summary through
    ``emit_results``. ``skipped_count``: objects of the window skipped before ingest (checked by the
    operator before the export starts).
    """

    _manifest: dict[str, Any] | None = None
    skipped_count: int | None = None
    outlets: Any

    def emit_results(self, context: Mapping[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
        emit_export_event(context, self.outlets, self._manifest, summary, self.skipped_count)
        return summary
