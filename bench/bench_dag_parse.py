"""DAG parse time of the astro.yaml factory: 50 pipelines against a 1-pipeline baseline, same run.

Each size is parsed in a fresh interpreter (like a dag-processor child): the first parse includes
the imports, the following parses (median) show what each pipeline adds. Target: 50 pipelines
parse in under 1 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from bench import result
from include.devstack.services import REPO_ROOT

SIZES = (1, int(os.environ.get("BENCH_PARSE_PIPELINES", "50")))
REPEATS = 5
TARGET_SECONDS = 1.0

_CHILD = r"""
import json, statistics, sys, time
started = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
folder, repeats = sys.argv[1], int(sys.argv[2])
def parse():
    t, c = time.perf_counter(), time.process_time()
    bag = DagBag(dag_folder=folder)
    return time.perf_counter() - t, time.process_time() - c, bag
import_seconds = time.perf_counter() - started
first, _, bag = parse()
assert not bag.import_errors, bag.import_errors
warm = [parse()[:2] for _ in range(repeats)]
print(json.dumps({"imports": import_seconds, "first": first,
                  "warm": statistics.median(w for w, _ in warm), "cpu": statistics.median(c for _, c in warm),
                  "dags": len(bag.dags), "tasks": sum(len(d.tasks) for d in bag.dags.values())}))
"""


def pipelines_document(count: int) -> dict[str, Any]:
    """``count`` pipelines cycling through S3 images, GCS videos and local images."""
    pipelines = []
    for index in range(count):
        kind = ("s3", "gcs", "local")[index % 3]
        if kind == "local":
            source: dict[str, Any] = {"kind": "local", "directory": f"/data/drop-{index}"}
        else:
            scheme = "s3" if kind == "s3" else "gs"
            source = {
                "kind": kind,
                "bucket": f"bench-bucket-{index}",
                "prefix": "incoming/",
                "media": "videos" if kind == "gcs" else "images",
                "references_uri": f"{scheme}://bench-private/{{pipeline}}/{{interval_start:%Y%m%dT%H%M}}.jsonl",
            }
        pipelines.append(
            {
                "id": f"bench_{index:03d}",
                "schedule": "0 * * * *" if index % 2 else "1d",
                "source": source,
                "workflow": {"id": "bright-spot-detector", "parameters": {"threshold": 0.5}},
                "job": {"machine_type": "gpu", "workers_per_machine": 2},
                "export": {"destination": "s3://bench-results/{pipeline}/{interval_start:%Y%m%dT%H%M}/"},
            }
        )
    return {"defaults": {"owner": "bench", "retries": 3}, "pipelines": pipelines}


def measure(count: int, workdir: Path) -> dict[str, float]:
    """Parse the project's dags/ folder with ``count`` pipelines, in a fresh interpreter."""
    path = workdir / f"astro-{count}.yaml"
    path.write_text(yaml.safe_dump(pipelines_document(count), sort_keys=False))
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "AIRFLOW_HOME": str(workdir / "airflow-home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "ROBOFLOW_PIPELINES_FILE": str(path),
    }
    output = subprocess.run(
        [sys.executable, "-c", _CHILD, str(REPO_ROOT / "dags"), str(REPEATS)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=str(REPO_ROOT),
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def run() -> list[dict[str, Any]]:
    small, large = SIZES
    with tempfile.TemporaryDirectory(prefix="bench-dag-parse-") as tmp:
        workdir = Path(tmp)
        base, big = measure(small, workdir), measure(large, workdir)
    detail = (
        f"{big['dags']} DAGs / {big['tasks']} tasks vs {base['dags']} / {base['tasks']}; "
        f"Airflow import {base['imports']:.2f}s not counted; median of {REPEATS} re-parses"
    )
    per_pipeline = (big["warm"] - base["warm"]) / (large - small)
    return [
        result(
            "dag_parse",
            f"parse dags/ with {large} pipelines (re-parse; lower is better)",
            big["warm"],
            "s",
            baseline=base["warm"],
            baseline_name=f"{small} pipeline",
            target=f"< {TARGET_SECONDS:.0f} s",
            met=big["warm"] < TARGET_SECONDS,
            detail=detail,
        ),
        result(
            "dag_parse",
            f"CPU time of that re-parse with {large} pipelines (lower is better; less sensitive to load)",
            big["cpu"],
            "s",
            baseline=base["cpu"],
            baseline_name=f"{small} pipeline",
            target=f"< {TARGET_SECONDS:.0f} s",
            met=big["cpu"] < TARGET_SECONDS,
            detail=f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
        ),
        result(
            "dag_parse",
            f"first parse with {large} pipelines, operator imports included (lower is better)",
            big["first"],
            "s",
            baseline=base["first"],
            baseline_name=f"{small} pipeline",
            target=f"< {TARGET_SECONDS:.0f} s",
            met=big["first"] < TARGET_SECONDS,
            detail="what a dag-processor child pays when it starts cold",
        ),
        result(
            "dag_parse",
            "parse cost added per pipeline",
            per_pipeline * 1000,
            "ms",
            detail=f"({big['warm']:.3f}s - {base['warm']:.3f}s) / {large - small} pipelines",
        ),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
