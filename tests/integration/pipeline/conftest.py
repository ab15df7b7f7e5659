"""Run astro.yaml pipelines end to end with ``dag.test()`` against the local stand-ins."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from include.devstack import connections
from include.devstack.airflow_stack import connection_env
from include.devstack.run_results import local_path, task_results
from include.roboflow_batch.pipeline.loader import PIPELINES_FILE_ENV
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
        from airflow.dag_processing.dagbag import DagBag

        document = {"defaults": TEST_DEFAULTS, "pipelines": [pipeline]}
        path = tmp_path / "astro.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        monkeypatch.setenv(PIPELINES_FILE_ENV, str(path))
        bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
        assert bag.import_errors == {}
        dag = bag.get_dag(f"roboflow_{pipeline['id']}")
        assert dag is not None
        when = logical_date or boundary(tmp_path / "clock")
        dag_run = dag.test(logical_date=when, run_conf=conf)
        return PipelineRun(dag_run, task_results(dag_run.dag_id, dag_run.run_id))

    return run


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
