"""OpenLineage facets of the pipeline's steps (``apache-airflow-providers-openlineage``).

Inputs are the source bucket and prefix, outputs the results destination, and the Roboflow batch and
job travel as run facets, so a lineage backend can join a result folder to the objects it came from.
The Airflow provider is imported inside the functions: it is only loaded when lineage is emitted.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import attrs
from openlineage.client.facet_v2 import RunFacet

ROBOFLOW_FACET = "roboflow"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunFacet"


@attrs.define
class RoboflowRunFacet(RunFacet):
    """The Roboflow staging batch and batch job a task worked on (camelCase, as OpenLineage facets)."""

    batchId: str | None = None
    jobId: str | None = None
    jobUrl: str | None = None
    # What the job was expected to cost, the most it could (processingTimeoutSeconds), and what it did.
    estimatedMachineSeconds: float | None = None
    ceilingSeconds: int | None = None
    machineSeconds: float | None = None
    credits: float | None = None

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL


def dataset_for_uri(uri: str) -> Any:
    """An OpenLineage dataset for ``s3://``/``gs://`` (namespace = bucket) or a local path."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parts = urlsplit(uri)
    if parts.scheme in ("s3", "gs"):
        return Dataset(namespace=f"{parts.scheme}://{parts.netloc}", name=parts.path.lstrip("/") or "/")
    path = parts.path if parts.scheme == "file" else uri
    return Dataset(namespace="file", name=path)


def source_dataset(scheme: str, bucket: str, prefix: str) -> Any:
    from airflow.providers.common.compat.openlineage.facet import Dataset

    return Dataset(namespace=f"{scheme}://{bucket}", name=prefix.lstrip("/") or "/")


def roboflow_run_facets(
    *,
    batch_id: str | None = None,
    job_id: str | None = None,
    job_url: str | None = None,
    spend: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``{"roboflow": RoboflowRunFacet}`` naming the staging batch and the batch job (when known),
    with the job's estimate, ceiling and measured machine time and credits from ``spend``."""
    if batch_id is None and job_id is None:
        return {}
    spend = spend or {}
    ceiling = spend.get("ceiling_seconds")
    return {
        ROBOFLOW_FACET: RoboflowRunFacet(
            batchId=batch_id,
            jobId=job_id,
            jobUrl=job_url,
            estimatedMachineSeconds=spend.get("estimate_seconds"),
            ceilingSeconds=int(ceiling) if isinstance(ceiling, int | float) else None,
            machineSeconds=spend.get("machine_seconds"),
            credits=spend.get("credits"),
        )
    }


def operator_lineage(
    inputs: list[Any] | None = None,
    outputs: list[Any] | None = None,
    run_facets: dict[str, Any] | None = None,
) -> Any:
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(inputs=inputs or [], outputs=outputs or [], run_facets=run_facets or {})


def returned_summary(task_instance: Any) -> dict[str, Any]:
    """What the task returned (its XCom), or ``{}``: lineage never fails a task."""
    try:
        value = task_instance.xcom_pull(task_ids=task_instance.task_id)
    except Exception:
        return {}
    return value if isinstance(value, dict) else {}


# The operators' ``get_openlineage_facets_on_complete`` (assigned as class attributes there).


def source_facets_on_complete(operator: Any, task_instance: Any) -> Any:
    """References step: the listed bucket and prefix (the references file is private, not a dataset)."""
    return operator_lineage(inputs=[source_dataset(operator.scheme, operator.bucket, operator.prefix)])


def ingest_facets_on_complete(operator: Any, task_instance: Any) -> Any:
    """Ingest: the staging batch the objects went into, as a run facet."""
    batch_id = returned_summary(task_instance).get("batch_id") or operator.batch_id
    return operator_lineage(run_facets=roboflow_run_facets(batch_id=batch_id))


def job_facets_on_complete(operator: Any, task_instance: Any) -> Any:
    """Start job: the batch the job reads and the job itself, as run facets."""
    summary = returned_summary(task_instance)
    ceiling = getattr(operator, "processing_timeout_seconds", None)
    facets = roboflow_run_facets(
        batch_id=summary.get("batch_id") or operator.batch_id,
        job_id=summary.get("job_id") or operator.job_id,
        job_url=summary.get("job_url"),
        spend={"ceiling_seconds": ceiling if isinstance(ceiling, int) else None},
    )
    return operator_lineage(run_facets=facets)


def export_facets_on_complete(operator: Any, task_instance: Any) -> Any:
    """Export: the results destination as output; the job and its input batch as run facets."""
    manifest = getattr(operator, "_manifest", None) or {}
    batch_id = operator.batch_id or (manifest.get("ingested") or {}).get("batch_id")
    return operator_lineage(
        outputs=[dataset_for_uri(manifest.get("destination") or operator.destination)],
        run_facets=roboflow_run_facets(
            batch_id=batch_id, job_id=operator.job_id, spend=manifest.get("spend")
        ),
    )


class IngestLineageMixin:
    """The ingest operator's OpenLineage facets (the staging batch as a run facet)."""

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return ingest_facets_on_complete(self, task_instance)
