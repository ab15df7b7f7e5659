"""OpenLineage of every step: final datasets in and out, the batch, job and counts as the run facet,
built from what the step returned, never asked of Airflow (the listener runs in a forked process)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.openlineage.facet import Dataset

from include.roboflow_batch.lineage import HookLineageReset, remember_result
from include.roboflow_batch.operators.export import RoboflowExportOperator
from include.roboflow_batch.operators.ingest import RoboflowIngestOperator
from include.roboflow_batch.operators.references import GCSReferencesOperator, S3ReferencesOperator
from include.roboflow_batch.operators.start_job import RoboflowStartJobOperator
from include.roboflow_batch.pipeline.factory import build_dag
from include.roboflow_batch.pipeline.schema import PipelineConfig
from include.roboflow_batch.sensors.batch_ready import RoboflowBatchReadySensor
from include.roboflow_batch.sensors.job import RoboflowJobSensor


class NoXComTI:
    """A task instance of the forked listener process: asking it anything would hang the task."""

    def xcom_pull(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("lineage must not pull XComs")


def completed(operator: Any, returned: Any) -> Any:
    """The lineage the listener reads after ``operator`` returned ``returned``."""
    hook = operator._post_execute_hook
    hook({"task": operator}, returned)
    return operator.get_openlineage_facets_on_complete(NoXComTI())


def facet(lineage: Any) -> Any:
    return lineage.run_facets["roboflow"]


def test_references_read_the_source_prefix_and_write_the_final_references_files() -> None:
    s3 = S3ReferencesOperator(task_id="list", bucket="frames", prefix="cams/a/", destination="s3://p/r.jsonl")
    gcs = GCSReferencesOperator(task_id="list", bucket="frames", prefix="", destination="file:///r.jsonl")
    chunks = [{"index": i, "references_uri": f"s3://p/r.chunk-000{i}.jsonl", "count": 2} for i in (0, 1)]

    done = completed(s3, {"count": 4, "skipped_count": 1, "references_uri": None, "chunks": chunks})

    assert s3.get_openlineage_facets_on_start().inputs == [Dataset(namespace="s3://frames", name="cams/a/")]
    assert done.inputs == [Dataset(namespace="s3://frames", name="cams/a/")]
    assert done.outputs == [
        Dataset(namespace="s3://p", name="r.chunk-0000.jsonl"),
        Dataset(namespace="s3://p", name="r.chunk-0001.jsonl"),
    ]
    assert facet(done).counts == {"references": 4, "skipped": 1}
    gcs_done = completed(gcs, {"count": 1, "references_uri": "file:///r.jsonl"})
    assert gcs_done.inputs == [Dataset(namespace="gs://frames", name="/")]
    assert gcs_done.outputs == [Dataset(namespace="file", name="/r.jsonl")]


def test_ingest_and_the_waits_carry_the_batch_job_and_counts() -> None:
    ingest = RoboflowIngestOperator(task_id="ingest", references="s3://p/r.jsonl", batch_id="cams-b1")
    ready = RoboflowBatchReadySensor(task_id="wait_for_batch", batch_id="cams-b1", expected_count=3)
    start = RoboflowStartJobOperator(task_id="start_job", batch_id="cams-b1", workflow_id="wf")
    wait = RoboflowJobSensor(task_id="wait_for_job", job_id="cams-j1")

    ingested = completed(ingest, {"batch_id": "cams-b1", "expected_count": 3, "sent_count": 3})
    staged = completed(ready, {"expected": 3, "staged": 2, "failed_count": 1})
    started = completed(start, {"job_id": "cams-j1", "batch_id": "cams-b1", "job_url": "https://app/j"})
    waited = completed(wait, {"job_id": "cams-j1", "output_batches": {"export": ["cams-j1-export"]}})

    assert ingested.inputs == [Dataset(namespace="s3://p", name="r.jsonl")]
    assert (facet(ingested).batchId, facet(ingested).counts) == ("cams-b1", {"expected": 3, "sent": 3})
    assert (facet(staged).batchId, facet(staged).counts) == (
        "cams-b1",
        {"expected": 3, "staged": 2, "failed_count": 1},
    )
    assert (facet(started).batchId, facet(started).jobId, facet(started).jobUrl) == (
        "cams-b1",
        "cams-j1",
        "https://app/j",
    )
    assert (facet(waited).jobId, facet(waited).batchIds) == ("cams-j1", ["cams-j1-export"])
    # On START the steps already name what their arguments say.
    assert facet(start.get_openlineage_facets_on_start()).batchId == "cams-b1"
    assert facet(wait.get_openlineage_facets_on_start()).jobId == "cams-j1"


def test_export_writes_the_results_destination() -> None:
    s3 = RoboflowExportOperator(task_id="export", job_id="cams-j1", destination="s3://results/cams/2026/")
    local = RoboflowExportOperator(task_id="export", job_id="cams-j1", destination="file:///data/out/")

    done = completed(s3, {"destination": "s3://results/cams/2026", "result_rows": 7, "files_written": 2})

    assert done.outputs == [Dataset(namespace="s3://results", name="cams/2026")]
    assert facet(done).jobId == "cams-j1" and facet(done).counts == {"result_rows": 7, "files_written": 2}
    assert local.get_openlineage_facets_on_start().outputs == [Dataset(namespace="file", name="/data/out")]


def test_a_dag_given_post_execute_hook_still_runs() -> None:
    seen: list[Any] = []
    export = RoboflowExportOperator(
        task_id="export", job_id="j", destination="s3://r/x/", post_execute=lambda c, r: seen.append(r)
    )

    completed(export, {"destination": "s3://r/x/"})

    assert seen == [{"destination": "s3://r/x/"}]


@pytest.fixture
def pipeline_dag(tmp_path: Path) -> Any:
    pipeline = PipelineConfig.model_validate(
        {
            "id": "cams",
            "source": {"kind": "s3", "bucket": "frames", "references_uri": "s3://p/{pipeline}.jsonl"},
            "workflow": {"id": "wf"},
            "export": {"destination": "s3://results/{pipeline}/{interval_start:%Y%m%dT%H%M}/"},
        }
    )
    return build_dag(pipeline, tmp_path)


def test_the_python_steps_report_their_ids_counts_and_the_results_table(pipeline_dag: Any) -> None:
    plan, chunks, reconcile = (pipeline_dag.get_task(t) for t in ("plan", "plan_chunks", "reconcile"))

    planned = completed(plan, {"batch_id": "cams-b", "job_id": "cams-j", "destination": "s3://results/x/"})
    chunked = completed(
        chunks,
        [{"batch_id": "cams-b-0", "job_id": "cams-j-0"}, {"batch_id": "cams-b-1", "job_id": "cams-j-1"}],
    )
    summary = {
        "destination": "s3://results/cams/20260301T0400",
        "chunks": 2,
        "result_rows": 5,
        "batch_ids": ["cams-b-0", "cams-b-1"],
        "job_ids": ["cams-j-0", "cams-j-1"],
        "table": {"rows": 6, "failure_rows": 1},
    }
    reconciled = completed(reconcile, summary)

    assert (facet(planned).batchId, facet(planned).jobId) == ("cams-b", "cams-j")
    assert facet(chunked).batchIds == ["cams-b-0", "cams-b-1"] and facet(chunked).counts == {"chunks": 2}
    assert reconciled.inputs == [Dataset(namespace="s3://results", name="cams/20260301T0400")]
    assert reconciled.outputs == [
        Dataset(namespace="s3://results", name="tables/predictions"),
        Dataset(namespace="s3://results", name="tables/failures"),
    ]
    assert facet(reconciled).jobIds == ["cams-j-0", "cams-j-1"]
    assert facet(reconciled).counts == {
        "chunks": 2,
        "result_rows": 5,
        "table_rows": 6,
        "table_failure_rows": 1,
    }
    # START already names the table the window will write.
    assert reconcile.get_openlineage_facets_on_start().outputs == reconciled.outputs


def test_remember_result_keeps_only_summaries() -> None:
    export = RoboflowExportOperator(task_id="export", job_id="j", destination="s3://r/x/")

    remember_result({"task": export}, "not a summary")

    assert export.lineage_result is None


def test_a_task_ending_forgets_the_hook_lineage_of_the_process() -> None:
    from airflow.sdk import lineage

    collector = lineage.get_hook_lineage_collector()

    HookLineageReset().before_stopping(component=None)

    assert lineage.get_hook_lineage_collector() is not collector


def test_the_roboflow_facet_carries_the_ceiling_the_estimate_and_what_the_job_measured() -> None:
    start = RoboflowStartJobOperator(task_id="start_job", batch_id="cams-b1", workflow_id="wf")
    started = start.step_lineage({"job_id": "cams-j1", "ceiling_seconds": 900})
    assert started.run_facets["roboflow"].ceilingSeconds == 900

    export = RoboflowExportOperator(task_id="export", job_id="cams-j1", destination="file:///data/out/")
    export._manifest = {
        "destination": "file:///data/out/",
        "ingested": {"batch_id": "cams-b1"},
        "spend": {
            "estimate_seconds": 410.0,
            "ceiling_seconds": 900,
            "machine_seconds": 388.5,
            "credits": 0.108,
        },
    }
    facet = export.step_lineage({"destination": "file:///data/out/"}).run_facets["roboflow"]
    assert (facet.estimatedMachineSeconds, facet.ceilingSeconds, facet.machineSeconds, facet.credits) == (
        410.0,
        900,
        388.5,
        0.108,
    )
