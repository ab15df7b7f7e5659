"""One mapping from astro.yaml to every task's arguments: each setting read once, under one name per task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from include.roboflow_batch.pipeline.loader import parse_pipelines
from include.roboflow_batch.pipeline.schema import PipelineConfig
from include.roboflow_batch.pipeline.step_arguments import (
    IngestArguments,
    S3ListingArguments,
    WaitArguments,
    pipeline_arguments,
)


def config(pipeline: dict[str, Any]) -> PipelineConfig:
    loaded = parse_pipelines({"pipelines": [pipeline]}, Path("/project/astro.yaml"))
    assert loaded.problems == []
    return loaded.pipelines[0]


def test_export_destination_reaches_the_plan_as_a_template_and_the_export_and_reconcile_as_a_connection(
    pipeline: dict[str, Any],
) -> None:
    pipeline["source"]["conn_id"] = "store"
    pipeline["export"]["destination"] = "s3://results/{pipeline}/{interval_start:%Y%m%dT%H%M}/"

    arguments = pipeline_arguments(config(pipeline), Path("/project"))

    # The template is rendered once per window by plan; each chunk's folder derives from that.
    assert arguments.plan["destination"] == "s3://results/{pipeline}/{interval_start:%Y%m%dT%H%M}/"
    assert "destination" not in arguments.export.kwargs()
    assert arguments.export.destination_conn_id == arguments.reconcile.destination_conn_id == "store"
    assert "`s3://results/{pipeline}/{interval_start:%Y%m%dT%H%M}/`" in arguments.dag.doc_md


def test_max_batch_objects_is_the_listings_max_objects_per_file_for_buckets_and_directories(
    pipeline: dict[str, Any],
) -> None:
    pipeline["max_batch_objects"] = 15
    bucket = pipeline_arguments(config(pipeline), Path("/project"))
    pipeline["source"] = {"kind": "local", "directory": "drop"}
    directory = pipeline_arguments(config(pipeline), Path("/project"))

    assert isinstance(bucket.listing, S3ListingArguments)
    assert bucket.listing.max_objects_per_file == 15
    assert not isinstance(directory.listing, S3ListingArguments)
    assert directory.listing["max_objects_per_file"] == 15
    # A directory fans out like a bucket: the doc says so for both.
    for arguments in (bucket, directory):
        assert "at most 15 objects per staging batch and job" in arguments.dag.doc_md


def test_arguments_passed_only_when_set_leave_the_tasks_own_defaults() -> None:
    references = IngestArguments("images", None, references_conn_id="store")
    local = IngestArguments("videos", None, local_directory="/project/drop")
    deferred = WaitArguments(deferrable=True, timeout=60.0, poke_interval=5.0)

    assert references.kwargs() == {
        "media_type": "images",
        "notifications_url": None,
        "references_conn_id": "store",
    }
    assert local.kwargs() == {
        "media_type": "videos",
        "notifications_url": None,
        "local_directory": "/project/drop",
    }
    # No mode: a deferrable sensor keeps Airflow's; no notification check without webhooks.
    assert deferred.kwargs() == {"deferrable": True, "timeout": 60.0, "poke_interval": 5.0}


def test_without_a_triggerer_the_waits_reschedule_at_a_pace_the_scheduler_follows(
    pipeline: dict[str, Any],
) -> None:
    pipeline.update(deferrable=False, readiness={"poke_interval": "5s"})

    arguments = pipeline_arguments(config(pipeline), Path("/project"))

    for wait in (arguments.batch_wait, arguments.job_wait):
        assert (wait.mode, wait.deferrable, wait.poke_interval) == ("reschedule", False, 60.0)
