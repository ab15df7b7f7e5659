"""Shared set-up of job and export integration tests: a staged input batch on the emulator, connections.

Input images are served by a small HTTP server on 127.0.0.1 and ingested as signed-URL references,
so the batch has real shards, real per-file failures (one reference points at a missing file) and
names that map back to storage keys.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from include.devstack.loopback import serving_folder
from include.roboflow_batch.api.client import RoboflowClient
from include.roboflow_batch.references.naming import name_for_key

SOURCE_KEYS = ["cams/front/a.png", "cams/front/b.png", "cams/back/c.png", "cams/back/d.png"]
MISSING_KEY = "cams/back/missing.png"


@dataclass(frozen=True)
class StagedBatch:
    batch_id: str
    names: list[str]
    failed_name: str
    expected_count: int


def png(seed: int) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (16, 12), (seed * 40 % 256, 80, 200 - seed * 30 % 200))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="session")
def image_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Serves generated PNGs under their storage keys on a free loopback port."""
    root = tmp_path_factory.mktemp("images")
    for seed, key in enumerate(SOURCE_KEYS):
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png(seed))

    with serving_folder(root) as base:
        yield base


def roboflow_connection(base_url: str, api_key: str, workspace: str) -> str:
    return json.dumps(
        {"conn_type": "roboflow", "host": base_url, "password": api_key, "extra": {"workspace": workspace}}
    )


def stage_batch(
    emulator: Any, image_server: str, batch_id: str, chunks: int = 2, timeout: float = 30.0
) -> StagedBatch:
    """Ingest the served images (plus one unreachable reference) in ``chunks`` requests, so the batch
    has several shards (one job task and one result archive each), and wait until it is indexed."""
    client = RoboflowClient(emulator.base_url, emulator.api_key, workspace=emulator.workspace)
    references = [{"name": name_for_key(key), "url": f"{image_server}/{key}?sig=abc"} for key in SOURCE_KEYS]
    references.append({"name": name_for_key(MISSING_KEY), "url": f"{image_server}/{MISSING_KEY}?sig=abc"})
    with client:
        size = -(-len(references) // chunks)
        for index in range(chunks):
            chunk = references[index * size : (index + 1) * size]
            client.ingest_image_references(batch_id, ingest_id=f"{batch_id}-{index}", references=chunk)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shards = list(client.iter_shards(batch_id))
            if shards and all(s.status_type != "info" for s in shards):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"batch {batch_id} was not indexed within {timeout}s")
        assert client.count_batch(batch_id) == len(SOURCE_KEYS)
    return StagedBatch(
        batch_id=batch_id,
        names=[name_for_key(k) for k in SOURCE_KEYS],
        failed_name=name_for_key(MISSING_KEY),
        expected_count=len(references),
    )


@pytest.fixture
def roboflow_conn(roboflow_emulator: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(
        "AIRFLOW_CONN_ROBOFLOW_DEFAULT",
        roboflow_connection(
            roboflow_emulator.base_url, roboflow_emulator.api_key, roboflow_emulator.workspace
        ),
    )
    return "roboflow_default"


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    return tmp_path / "export"
