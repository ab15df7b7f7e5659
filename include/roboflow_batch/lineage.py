"""OpenLineage of the pipeline's steps (``apache-airflow-providers-openlineage``).

Every step reports its own lineage on START, COMPLETE and FAIL: datasets are the final locations it
reads or writes (the source bucket and prefix or local directory, the references files, the results
destination, the results table), never a file being written, and the Roboflow batch, job and the
run's counts travel as the ``roboflow`` run facet wherever the step knows them.

Two Airflow behaviours shape this module. The listener extracts lineage in a forked process whose
channel to the supervisor is not its own, so a step never asks for anything there (no XCom pull):
it remembers what it returned (``remember_result``, a post-execute hook) and builds its lineage
from that and its own arguments. And a step that reports no dataset gets the process's *hook*
lineage, every file any task of the process touched through ``ObjectStoragePath`` - under
``dag.test()`` all of a DAG's tasks and the DAGs tested before it. ``HookLineageReset`` clears that
collection when a task ends, so it only ever holds the task's own reads and writes.

The Airflow provider is imported inside the functions: it is only loaded when lineage is emitted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import attrs
from airflow.listeners import hookimpl
from openlineage.client.facet_v2 import RunFacet

ROBOFLOW_FACET = "roboflow"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunFacet"


@attrs.define
class RoboflowRunFacet(RunFacet):
    """The Roboflow staging batch(es) and job(s) a step worked on, and its counts (camelCase, as
    OpenLineage facets). A window that fanned out lists every chunk's batch and job."""

    batchId: str | None = None
    jobId: str | None = None
    jobUrl: str | None = None
    batchIds: list[str] | None = None
    jobIds: list[str] | None = None
    counts: dict[str, int] | None = None
    # What the job(s) were expected to cost, the most they could (processingTimeoutSeconds), and what
    # they did: machine-seconds and Roboflow credits.
    estimatedMachineSeconds: float | None = None
    ceilingSeconds: int | None = None
    machineSeconds: float | None = None
    credits: float | None = None

    @staticmethod
    def _get_schema() -> str:
        return SCHEMA_URL


def dataset_for_uri(uri: str) -> Any:
    """An OpenLineage dataset for ``s3://``/``gs://`` (namespace = bucket) or a local path; a folder is
    named without its trailing ``/``, so every step names it alike."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    parts = urlsplit(uri)
    if parts.scheme in ("s3", "gs"):
        name = parts.path.strip("/") or "/"
        return Dataset(namespace=f"{parts.scheme}://{parts.netloc}", name=name)
    path = parts.path if parts.scheme == "file" else uri
    return Dataset(namespace="file", name=path.rstrip("/") or "/")


def source_dataset(scheme: str, bucket: str, prefix: str) -> Any:
    from airflow.providers.common.compat.openlineage.facet import Dataset

    return Dataset(namespace=f"{scheme}://{bucket}", name=prefix.lstrip("/") or "/")


def _text(value: Any) -> str | None:
    """A rendered id, or None for an unset or unrendered one."""
    return value if isinstance(value, str) and value and "{{" not in value else None


def _counts(values: Mapping[str, Any]) -> dict[str, int] | None:
    kept = {
        key: value for key, value in values.items() if isinstance(value, int) and not isinstance(value, bool)
    }
    return kept or None


def roboflow_run_facets(
    *,
    batch_id: Any = None,
    job_id: Any = None,
    job_url: Any = None,
    batch_ids: Sequence[Any] | None = None,
    job_ids: Sequence[Any] | None = None,
    counts: Mapping[str, Any] | None = None,
    spend: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``{"roboflow": RoboflowRunFacet}`` with what is known (nothing: no facet); ``spend`` gives the
    estimate, the ceiling and the measured machine time and credits (``spend.steps`` names)."""
    spend = spend or {}
    facet = RoboflowRunFacet(
        batchId=_text(batch_id),
        jobId=_text(job_id),
        jobUrl=_text(job_url),
        batchIds=[i for i in batch_ids or () if _text(i)] or None,
        jobIds=[i for i in job_ids or () if _text(i)] or None,
        counts=_counts(counts or {}),
        estimatedMachineSeconds=_number(spend.get("estimate_seconds")),
        ceilingSeconds=_whole(spend.get("ceiling_seconds")),
        machineSeconds=_number(spend.get("machine_seconds")),
        credits=_number(spend.get("credits")),
    )
    known = attrs.astuple(facet, recurse=False)
    return {ROBOFLOW_FACET: facet} if any(value is not None for value in known) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _whole(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def operator_lineage(
    inputs: list[Any] | None = None,
    outputs: list[Any] | None = None,
    run_facets: dict[str, Any] | None = None,
) -> Any:
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(inputs=inputs or [], outputs=outputs or [], run_facets=run_facets or {})


def remember_result(context: Mapping[str, Any], result: Any) -> None:
    """Post-execute hook: keep what the task returned on the task object that ran, for its lineage."""
    task = context.get("task")
    if task is not None and isinstance(result, Mapping | list):
        task.lineage_result = result


def _chained(hook: Callable[[Any, Any], Any] | None) -> Callable[[Any, Any], Any]:
    if hook is None or hook is remember_result:
        return remember_result

    def both(context: Any, result: Any) -> None:
        remember_result(context, result)
        hook(context, result)

    return both


class StepLineage:
    """Lineage of a step: ``step_lineage(result)`` from the step's arguments and what it returned
    (``{}`` on START and when it failed before returning).

    Mixed in before the operator class; it installs ``remember_result`` as the post-execute hook
    (keeping any hook the DAG gave).
    """

    lineage_result: Any = None
    _post_execute_hook: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._post_execute_hook = _chained(self._post_execute_hook)

    def step_lineage(self, result: Any) -> Any:
        return operator_lineage()

    def get_openlineage_facets_on_start(self) -> Any:
        return self.step_lineage({})

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        return self.step_lineage(self.lineage_result or {})

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        return self.step_lineage(self.lineage_result or {})


class HookLineageReset:
    """Listener: forget the process's hook lineage when a task ends (see the module's docstring)."""

    @hookimpl
    def before_stopping(self, component: Any) -> None:
        from airflow.sdk import lineage

        lineage.get_hook_lineage_collector.cache_clear()
