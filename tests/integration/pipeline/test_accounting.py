"""Every object listed in a window is in the manifest: processed with its rows, failed at ingest with
the server's reason, or skipped while listing with the reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from include.devstack.sample_media import sample_images, seed_s3
from tests.integration.pipeline.conftest import PipelineRun, object_store_pipeline

pytestmark = pytest.mark.integration


def test_skipped_objects_are_accounted_for_in_the_manifest(
    run_pipeline: Callable[..., PipelineRun], moto_server: Any, tmp_path: Path
) -> None:
    images = sample_images(3, prefix="acct", seed=41)
    empty = replace(images[0], name="empty.png", content=b"")
    notes = replace(images[0], name="notes.txt", content=b"not an image")
    seed_s3(moto_server.url, "it-s3-accounting", "cams/", [*images, empty, notes])
    pipeline = object_store_pipeline("it_s3_accounting", "s3", "it-s3-accounting", "cams/", tmp_path)

    run = run_pipeline(pipeline)

    assert run.state == "success"
    manifest = run.manifest
    assert manifest["reconciled"] is True
    assert manifest["objects"] == {"seen": 5, "processed": 3, "failed": 0, "skipped": 2}
    assert sorted((entry["key"], entry["reason"]) for entry in manifest["skipped"]["files"]) == [
        ("cams/empty.png", "empty-file"),
        ("cams/notes.txt", "unsupported-file-type"),
    ]
    processed = {entry["source_key"]: entry["rows"] for entry in manifest["sources"]}
    assert processed == {f"cams/{image.name}": 1 for image in images}
    listed = run.value("list_new_objects")
    assert listed["skipped_uri"].endswith(".skipped.jsonl")
    assert "Signature" not in str(listed)  # the full list is in a file, not in XCom
