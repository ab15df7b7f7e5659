"""The astro.yaml files that ``make demo`` and ``make up`` write are valid and use the stacks' own names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from include.devstack import demo, local_stack
from include.roboflow_batch.pipeline.loader import parse_pipelines
from include.roboflow_batch.pipeline.schema import GCSSource, S3Source


@pytest.mark.parametrize(
    ("text", "stack", "ids", "buckets"),
    [
        (
            demo.demo_astro_yaml(Path("/demo/out"), Path("/demo/private")),
            "demo",
            ["demo_s3", "demo_gcs"],
            [demo.S3_BUCKET, demo.GCS_BUCKET],
        ),
        (
            local_stack.pipelines_yaml(Path("/local/out"), Path("/local/private"), "http://127.0.0.1:1/hook"),
            "local",
            ["local_cameras", "local_stores"],
            [local_stack.S3_BUCKET, local_stack.GCS_BUCKET],
        ),
    ],
    ids=["demo", "local-stack"],
)
def test_example_astro_yaml_is_valid_and_names_the_stack_connections(
    text: str, stack: str, ids: list[str], buckets: list[str]
) -> None:
    loaded = parse_pipelines(yaml.safe_load(text), Path("/astro.yaml"))

    assert loaded.problems == []
    assert [p.id for p in loaded.pipelines] == ids
    s3, gcs = (p.source for p in loaded.pipelines)
    assert isinstance(s3, S3Source) and isinstance(gcs, GCSSource)
    assert [s3.bucket, gcs.bucket] == buckets
    assert (s3.conn_id, gcs.conn_id, gcs.signing_conn_id) == (
        f"{stack}_s3",
        f"{stack}_gcs",
        f"{stack}_gcs_signer",
    )
    assert [s3.prefix, gcs.prefix] == ["cameras/", "stores/"]
    assert all(p.workflow.id == "bright-spot-detector" for p in loaded.pipelines)
