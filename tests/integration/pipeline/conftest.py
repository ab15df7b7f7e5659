"""Run astro.yaml pipelines end to end with ``dag.test()`` against the local stand-ins."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from include.devstack import connections
from include.devstack.airflow_stack import connection_env
from include.devstack.run_results import local_path, task_results
from include.devstack.services import start_roboflow_emulator
from include.roboflow_batch.pipeline.loader import PIPELINES_FILE_ENV
from include.roboflow_emulator.testing import EmulatorHandle
from tests.integration.pipeline.file_clock import boundary

REPO_ROOT = Path(__file__).resolve().parents[3]

# Fast polling, short waits: the emulator indexes and runs stages in fractions of a second.
TEST_DEFAULTS: dict[str, Any] = {
    "owner": "tests",
    "schedule": "1h",
    "retries": 2,
    "retry_delay": "1s",
    "readiness": {"poke_interval": "1s", "timeout": "2m"},
    "job": {"poke_interval": "1s", "wait_timeout": "5m", "aggregation_format": "jsonl"},
    # The stand-ins listen on loopback, which Roboflow could never reach: a warning, not a failure.
    "preflight": {"private_endpoints": "warn"},
}


@dataclass
class PipelineRun:
    """A finished ``dag.test()`` run with what its tasks returned."""

    dag_run: Any
    tasks: dict[str, dict[str, Any]]

    @property
    def state(self) -> str:
        return str(self.dag_run.state)

    def value(self, task_id: str) -> dict[str, Any]:
        return self.tasks[task_id]["value"] or {}

    def task_state(self, task_id: str) -> str:
        return self.tasks[task_id]["state"]

    @property
    def destination(self) -> Path:
        return local_path(self.value("export")["destination"])

    @property
    def manifest(self) -> dict[str, Any]:
        return json.loads(local_path(self.value("export")["manifest_uri"]).read_text())


@pytest.fixture
def stand_in_connections(
    monkeypatch: pytest.MonkeyPatch, roboflow_emulator: Any, moto_server: Any, gcs_emulator: Any
) -> None:
    """``roboflow_default``, ``it_s3`` (moto), ``it_gcs`` + ``it_gcs_signer`` (GCS emulator)."""
    env = {
        **connection_env("roboflow_default", connections.roboflow_connection(roboflow_emulator.base_url)),
        **connection_env("it_s3", connections.moto_connection(moto_server.url)),
        **connection_env("it_gcs", connections.gcs_anonymous_connection()),
        **connection_env("it_gcs_signer", connections.gcs_signing_connection()),
        "STORAGE_EMULATOR_HOST": gcs_emulator.url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def run_pipeline(
    airflow_db: Path, stand_in_connections: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., PipelineRun]:
    """Write an astro.yaml with one pipeline, build its DAG from dags/ and run one interval of it.

    The interval is the hour ending now by the filesystem clock, so what the test seeded is in it.
    """

    def run(
        pipeline: dict[str, Any], logical_date: datetime | None = None, conf: dict[str, Any] | None = None
    ) -> PipelineRun:
        monkeypatch.setenv(PIPELINES_FILE_ENV, str(write_pipelines_file(tmp_path, pipeline)))
        when = logical_date or boundary(tmp_path / "clock")
        dag_run = pipeline_dag(pipeline["id"]).test(logical_date=when, run_conf=conf)
        return PipelineRun(dag_run, task_results(dag_run.dag_id, dag_run.run_id))

    return run


def emulator_with(monkeypatch: pytest.MonkeyPatch, *args: str) -> Iterator[EmulatorHandle]:
    """A Roboflow emulator of a test's own (started with ``args``) as the ``roboflow_default``
    connection, for a fixture to yield from; stopped by its pid afterwards."""
    service = start_roboflow_emulator(extra_args=list(args))
    for name, value in connection_env(
        "roboflow_default", connections.roboflow_connection(service.url)
    ).items():
        monkeypatch.setenv(name, value)
    try:
        yield EmulatorHandle(service)
    finally:
        service.stop()


def write_pipelines_file(folder: Path, pipeline: dict[str, Any]) -> Path:
    """An astro.yaml in ``folder`` with the test defaults and one pipeline."""
    path = folder / "astro.yaml"
    document = {"defaults": TEST_DEFAULTS, "pipelines": [pipeline]}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def pipeline_dag(pipeline_id: str) -> Any:
    """The DAG the dags/ folder builds for ``pipeline_id`` from the astro.yaml the environment names."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.get_dag(f"roboflow_{pipeline_id}")
    assert dag is not None
    return dag


def object_store_pipeline(
    pipeline_id: str, kind: str, bucket: str, prefix: str, out: Path, **extra: Any
) -> dict:
    """A pipeline entry reading ``kind`` (s3/gcs) and exporting under ``out``."""
    source: dict[str, Any] = {
        "kind": kind,
        "conn_id": f"it_{kind}",
        "bucket": bucket,
        "prefix": prefix,
        "url_expiry": "1h",
        "references_uri": str(out / "private" / "{pipeline}-{interval_start:%Y%m%dT%H%M%S}.jsonl"),
    }
    if kind == "gcs":
        source["signing_conn_id"] = "it_gcs_signer"
    source.update(extra.pop("source", {}))
    return {
        "id": pipeline_id,
        "source": source,
        "workflow": {"id": "bright-spot-detector"},
        "export": {
            "destination": str(out / "results" / "{pipeline}" / "{interval_start:%Y%m%dT%H%M%S}") + "/"
        },
        **extra,
    }


def local_pipeline(pipeline_id: str, tmp_path: Path, workflow: str, **job: Any) -> dict[str, Any]:
    """A pipeline reading images from ``tmp_path/drop`` and exporting under ``tmp_path/results``."""
    return {
        "id": pipeline_id,
        "source": {"kind": "local", "directory": str(tmp_path / "drop"), "media": "images"},
        "workflow": {"id": workflow},
        "job": {"poke_interval": "1s", "wait_timeout": "5m", "aggregation_format": "jsonl", **job},
        "export": {
            "destination": str(tmp_path / "results" / "{pipeline}" / "{interval_start:%Y%m%dT%H%M%S}/")
        },
    }
