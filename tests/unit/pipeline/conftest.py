"""Helpers for astro.yaml tests: a minimal valid pipeline and a writer for whole files."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

MINIMAL_PIPELINE: dict[str, Any] = {
    "id": "demo_s3",
    "source": {
        "kind": "s3",
        "bucket": "raw-frames",
        "prefix": "incoming/",
        "references_uri": "s3://private/{pipeline}/{interval_start:%Y%m%dT%H%M}.jsonl",
    },
    "workflow": {"id": "bright-spot-detector"},
    "export": {"destination": "s3://results/{pipeline}/{interval_start:%Y%m%dT%H%M}/"},
}


@pytest.fixture
def pipeline() -> dict[str, Any]:
    """A fresh copy of a minimal valid S3 pipeline entry."""
    return copy.deepcopy(MINIMAL_PIPELINE)


@pytest.fixture
def write_astro_yaml(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    """Write a document as astro.yaml in a temporary folder and return its path."""

    def write(document: dict[str, Any]) -> Path:
        path = tmp_path / "astro.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        return path

    return write
