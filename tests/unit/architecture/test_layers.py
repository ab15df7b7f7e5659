"""The house reads one way: dags -> pipeline -> operators/sensors -> triggers -> (ingest | jobs | export |
references | results_table | content | spend | preflight | repair) -> hooks -> api. A module may import its
own package, a lower layer, or the shared top-level modules; never a higher layer. ``api`` imports
no Airflow."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "include" / "roboflow_batch"
PREFIX = "include.roboflow_batch."
LAYERS = {
    "pipeline": 6,
    "operators": 5,
    "sensors": 5,
    "triggers": 4,
    "ingest": 3,
    "jobs": 3,
    "export": 3,
    "references": 3,
    "results_table": 3,
    "content": 3,
    "spend": 3,
    "preflight": 3,
    "repair": 3,
    "hooks": 2,
    "api": 1,
}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return names


def _layer(module: str) -> str | None:
    """The layer package of a module inside the project, or None for a shared top-level module."""
    if not module.startswith(PREFIX):
        return None
    first = module[len(PREFIX) :].split(".")[0]
    return first if first in LAYERS else None


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down(path: Path) -> None:
    own = path.relative_to(PACKAGE).parts[0]
    if own not in LAYERS:
        return  # shared top-level modules (counts, durations, identity, links, logs, media, task_ids, ...)
    upward = [
        name
        for name in _imports(path)
        if (layer := _layer(name)) is not None
        and layer != own
        and LAYERS[layer] >= LAYERS[own]
        and not (LAYERS[layer] == LAYERS[own] == 3)  # the helper packages may share each other's pieces
    ]
    assert not upward, f"{own} imports a layer at or above it: {upward}"
    if own == "api":
        assert not [name for name in _imports(path) if name.split(".")[0] == "airflow"]


def test_the_job_step_is_used_by_the_operator_the_sensor_and_the_trigger() -> None:
    users = {
        path.relative_to(PACKAGE).as_posix()
        for path in _modules()
        if any(name.startswith(PREFIX + "jobs.") for name in _imports(path))
        and not path.relative_to(PACKAGE).as_posix().startswith("jobs/")
    }
    assert {"operators/start_job.py", "sensors/job.py", "triggers/job.py"} <= users
    start_job = _imports(PACKAGE / "operators" / "start_job.py")
    assert not [name for name in start_job if name.startswith(PREFIX + "sensors")]


@pytest.mark.parametrize(
    ("package", "judgement", "sensor", "trigger"),
    [
        ("jobs", "status", "sensors/job.py", "triggers/job.py"),
        ("ingest", "readiness", "sensors/batch_ready.py", "triggers/batch_ready.py"),
    ],
)
def test_both_waits_have_one_shape(package: str, judgement: str, sensor: str, trigger: str) -> None:
    """A pure judgement, sync and async fetchers, and a worker watcher; the sensor polls through the
    watcher, the trigger through the async fetcher and the same judgement."""
    base = PACKAGE / package
    fetch, watch = base / f"{judgement}_fetch.py", base / f"{judgement}_watch.py"
    prefix = f"{PREFIX}{package}."
    assert not [name for name in _imports(base / f"{judgement}.py") if name.split(".")[0] == "airflow"]
    assert f"{prefix}{judgement}" in _imports(fetch)
    assert f"{prefix}{judgement}_fetch" in _imports(watch)
    assert f"{prefix}{judgement}_watch" in _imports(PACKAGE / sensor)
    assert f"{prefix}{judgement}_fetch" in _imports(PACKAGE / trigger)
    source = fetch.read_text()
    assert source.count("async def a") >= 1 and source.count("\ndef ") >= 1
