"""state_location: one folder per pipeline that every worker reaches, by default beside its references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from include.roboflow_batch.pipeline.loader import parse_pipelines
from include.roboflow_batch.pipeline.schema import PipelineConfig
from include.roboflow_batch.pipeline.state_location import state_location

BASE = Path("/srv/project")


def load(pipeline: dict[str, Any], **defaults: Any) -> PipelineConfig:
    loaded = parse_pipelines({"defaults": defaults, "pipelines": [pipeline]}, BASE / "astro.yaml")
    assert loaded.problems == []
    return loaded.pipelines[0]


def test_bucket_sources_keep_state_beside_their_references(pipeline: dict[str, Any]) -> None:
    # references_uri: s3://private/{pipeline}/{interval_start:...}.jsonl, on the source's storage
    state = state_location(load(pipeline), BASE)
    assert state.uri == "s3://private/roboflow-state/demo_s3/"
    assert state.conn_id == "aws_default"
    assert state.folder("processed-content") == "s3://private/roboflow-state/demo_s3/processed-content/"


def test_gcs_references_in_a_folder_and_another_connection(pipeline: dict[str, Any]) -> None:
    pipeline["source"] = {
        "kind": "gcs",
        "bucket": "clips",
        "references_uri": "gs://vision-private/references/{pipeline}/{interval_start:%Y%m%d}.jsonl",
        "references_conn_id": "gcp_private",
    }
    state = state_location(load(pipeline), BASE)
    assert state.uri == "gs://vision-private/references/roboflow-state/demo_s3/"
    assert state.conn_id == "gcp_private"


def test_local_sources_keep_state_in_their_state_directory(pipeline: dict[str, Any]) -> None:
    pipeline["source"] = {"kind": "local", "directory": "drop", "state_directory": "state"}
    state = state_location(load(pipeline), BASE)
    assert state.uri == "file:///srv/project/state/demo_s3/" and state.conn_id is None


def test_an_explicit_state_location_wins_and_may_come_from_defaults(pipeline: dict[str, Any]) -> None:
    state = state_location(load(pipeline, state_location="s3://shared-state/roboflow"), BASE)
    assert state.uri == "s3://shared-state/roboflow/demo_s3/"
    assert state.conn_id == "aws_default"  # the source's connection reaches its own kind of storage
    pipeline["state_location"] = "gs://elsewhere/"
    pipeline["state_conn_id"] = "gcp_state"
    assert state_location(load(pipeline), BASE) == state_location(load(pipeline), BASE)
    assert state_location(load(pipeline), BASE).uri == "gs://elsewhere/demo_s3/"
    assert state_location(load(pipeline), BASE).conn_id == "gcp_state"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("s3://state/{pipeline}/", "not a template"),
        ("s3://state/{interval_start:%Y}/", "not a template"),
        ("ftp://state/", "unsupported URI scheme"),
        ("", "at least 1 character"),
    ],
)
def test_bad_state_locations_are_named(pipeline: dict[str, Any], value: str, message: str) -> None:
    pipeline["state_location"] = value
    problems = parse_pipelines({"pipelines": [pipeline]}, BASE / "astro.yaml").problems
    assert len(problems) == 1 and "state_location" in problems[0] and message in problems[0]


@pytest.mark.parametrize("name", ["", "a/b", "..", "."])
def test_feature_folders_are_one_plain_segment(pipeline: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match="one plain path segment"):
        state_location(load(pipeline), BASE).folder(name)
