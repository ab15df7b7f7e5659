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
    *, batch_id: str | None = None, job_id: str | None = None, job_url: str | None = None
) -> dict[str, Any]:
    """``{"roboflow": RoboflowRunFacet}`` naming the staging batch and the batch job (when known)."""
    if batch_id is None and job_id is None:
        return {}
    return {ROBOFLOW_FACET: RoboflowRunFacet(batchId=batch_id, jobId=job_id, jobUrl=job_url)}


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
