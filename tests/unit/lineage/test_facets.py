"""OpenLineage facets of the steps: source bucket+prefix in, results destination out, batch and job."""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.openlineage.facet import Dataset

from include.roboflow_batch.operators.export import RoboflowExportOperator
from include.roboflow_batch.operators.ingest import RoboflowIngestOperator
from include.roboflow_batch.operators.references import GCSReferencesOperator, S3ReferencesOperator
from include.roboflow_batch.operators.start_job import RoboflowStartJobOperator


class FakeTI:
    def __init__(self, task_id: str, returned: dict[str, Any] | None) -> None:
        self.task_id = task_id
        self._returned = returned

    def xcom_pull(self, task_ids: str) -> Any:
        assert task_ids == self.task_id
        return self._returned


def test_references_inputs_are_the_source_bucket_and_prefix() -> None:
    s3 = S3ReferencesOperator(
        task_id="list", bucket="frames", prefix="cams/a/", destination="file:///r.jsonl"
    )
    gcs = GCSReferencesOperator(task_id="list", bucket="frames", prefix="", destination="file:///r.jsonl")

    assert s3.get_openlineage_facets_on_complete(FakeTI("list", {})).inputs == [
        Dataset(namespace="s3://frames", name="cams/a/")
    ]
    assert gcs.get_openlineage_facets_on_complete(FakeTI("list", {})).inputs == [
        Dataset(namespace="gs://frames", name="/")
    ]


def test_ingest_and_start_job_carry_the_batch_and_job_as_run_facets() -> None:
    ingest = RoboflowIngestOperator(task_id="ingest", references="file:///r.jsonl")
    start = RoboflowStartJobOperator(task_id="start_job", batch_id="cams-b1", workflow_id="wf")

    ingested = ingest.get_openlineage_facets_on_complete(FakeTI("ingest", {"batch_id": "cams-b1"}))
    started = start.get_openlineage_facets_on_complete(
        FakeTI("start_job", {"job_id": "cams-j1", "batch_id": "cams-b1", "job_url": "https://app/j"})
    )

    assert ingested.run_facets["roboflow"].batchId == "cams-b1"
    facet = started.run_facets["roboflow"]
    assert (facet.batchId, facet.jobId, facet.jobUrl) == ("cams-b1", "cams-j1", "https://app/j")


def test_export_output_is_the_results_destination() -> None:
    s3 = RoboflowExportOperator(task_id="export", job_id="cams-j1", destination="s3://results/cams/2026/")
    local = RoboflowExportOperator(task_id="export", job_id="cams-j1", destination="file:///data/out/")

    s3_lineage = s3.get_openlineage_facets_on_complete(FakeTI("export", {}))
    assert s3_lineage.outputs == [Dataset(namespace="s3://results", name="cams/2026/")]
    assert s3_lineage.run_facets["roboflow"].jobId == "cams-j1"
    assert local.get_openlineage_facets_on_complete(FakeTI("export", {})).outputs == [
        Dataset(namespace="file", name="/data/out/")
    ]


def test_the_roboflow_facet_carries_the_ceiling_the_estimate_and_what_the_job_measured() -> None:
    start = RoboflowStartJobOperator(
        task_id="start_job", batch_id="cams-b1", workflow_id="wf", processing_timeout_seconds=900
    )
    started = start.get_openlineage_facets_on_complete(FakeTI("start_job", {"job_id": "cams-j1"}))
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
    facet = export.get_openlineage_facets_on_complete(FakeTI("export", {})).run_facets["roboflow"]
    assert (facet.estimatedMachineSeconds, facet.ceilingSeconds, facet.machineSeconds, facet.credits) == (
        410.0,
        900,
        388.5,
        0.108,
    )
