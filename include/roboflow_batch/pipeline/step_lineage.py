"""Lineage of the pipeline's own Python steps (``plan``, ``preflight``, ``list_local_files``,
``plan_chunks``, ``account_spend``, ``reconcile``): ``step_task`` is Airflow's ``@task`` with a
lineage function of what the step returned, so these steps report their datasets and the ``roboflow``
facet like the operators do."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow.providers.standard.decorators.python import _PythonDecoratedOperator
from airflow.sdk.bases.decorator import task_decorator_factory

from include.roboflow_batch import lineage

StepLineageFunction = Callable[[Mapping[str, Any]], Any]


class RoboflowTaskOperator(lineage.StepLineage, _PythonDecoratedOperator):
    """``@task`` whose lineage is ``lineage(result)`` (``{}`` on START or before it returned)."""

    custom_operator_name = "@task"

    def __init__(self, *, lineage_of: StepLineageFunction | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lineage_of = lineage_of

    def step_lineage(self, result: Mapping[str, Any]) -> Any:
        return self.lineage_of(result) if self.lineage_of is not None else lineage.operator_lineage()


def step_task(*, lineage_of: StepLineageFunction, **kwargs: Any) -> Any:
    """Like ``airflow.sdk.task(**kwargs)``, with the step's lineage function."""
    return task_decorator_factory(
        decorated_operator_class=RoboflowTaskOperator, lineage_of=lineage_of, **kwargs
    )


# The steps' lineage functions -----------------------------------------------------------------


def plan_lineage(result: Mapping[str, Any]) -> Any:
    """The window's batch and job ids, as derived."""
    facets = lineage.roboflow_run_facets(batch_id=result.get("batch_id"), job_id=result.get("job_id"))
    return lineage.operator_lineage(run_facets=facets)


def preflight_lineage(result: Mapping[str, Any]) -> Any:
    """No dataset (its markers are written and deleted again); how many checks failed and warned."""
    checks = result.get("checks") or []
    statuses = [check.get("status") for check in checks]
    counts = {status: statuses.count(status) for status in ("failed", "warning")}
    return lineage.operator_lineage(run_facets=lineage.roboflow_run_facets(counts=counts if checks else None))


def account_lineage(result: Mapping[str, Any]) -> Any:
    """The jobs accounted for, with the run's estimate, ceiling, machine time and credits."""
    jobs = result.get("jobs") or []
    facets = lineage.roboflow_run_facets(job_ids=[job.get("job_id") for job in jobs], spend=result)
    return lineage.operator_lineage(run_facets=facets)


def local_listing_lineage(directory: str) -> StepLineageFunction:
    """The local directory read, and how many of its files go and stay."""

    def of(result: Mapping[str, Any]) -> Any:
        counts = {"files": result.get("count"), "skipped": result.get("skipped_count")}
        return lineage.operator_lineage(
            inputs=[lineage.dataset_for_uri(directory)], run_facets=lineage.roboflow_run_facets(counts=counts)
        )

    return of


def chunks_lineage(result: Any) -> Any:
    """Every chunk's batch and job (``plan_chunks`` returns a list)."""
    chunks = result if isinstance(result, list) else []
    facets = lineage.roboflow_run_facets(
        batch_ids=[c.get("batch_id") for c in chunks],
        job_ids=[c.get("job_id") for c in chunks],
        counts={"chunks": len(chunks)} if chunks else None,
    )
    return lineage.operator_lineage(run_facets=facets)


def reconcile_lineage(table_root: str | None) -> StepLineageFunction:
    """The window's results in; its table out (both tables, as folders); the window's counts."""

    def of(result: Mapping[str, Any]) -> Any:
        from include.roboflow_batch.results_table.location import TABLES

        outputs = [lineage.dataset_for_uri(f"{table_root}{table}/") for table in TABLES] if table_root else []
        destination = result.get("destination")
        counts = {
            key: result.get(key)
            for key in ("chunks", "listed", "ingested", "failed", "skipped", "result_rows")
        }
        table = result.get("table") or {}
        counts["table_rows"] = table.get("rows")
        counts["table_failure_rows"] = table.get("failure_rows")
        return lineage.operator_lineage(
            inputs=[lineage.dataset_for_uri(destination)] if isinstance(destination, str) else [],
            outputs=outputs,
            run_facets=lineage.roboflow_run_facets(
                batch_ids=result.get("batch_ids"),
                job_ids=result.get("job_ids"),
                counts=counts,
                spend=result.get("spend"),
            ),
        )

    return of
