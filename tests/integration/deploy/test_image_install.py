"""The deployed image is the tested one: its install steps, replayed without Docker in a fresh
virtualenv on a copy of the project made through ``.dockerignore`` as ``docker build`` makes it (the
runtime's Airflow pin, ``requirements.txt``, then exactly the Dockerfile's own ``pip install``
lines), give an Airflow that lists the Roboflow provider and imports the DAGs, and that carries
neither the tests, benches, dev stack and emulator nor the emulator-only packages."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from include.devstack.services import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

RUNTIME_AIRFLOW_PIN = "apache-airflow==3.3.2"  # what runtime:3.3-2 ships
IMAGE_PROJECT_DIR = "/usr/local/airflow"
EMULATOR_ONLY = ("PIL", "av")
LEFT_OUT = ("tests", "bench", "include/devstack", "include/roboflow_emulator", "requirements-dev.txt")
KEPT = ("dags", "plugins", "include/roboflow_batch", "astro.yaml", "requirements.txt", "pyproject.toml")


def copy_build_context(source: Path, target: Path) -> None:
    """``source`` copied to ``target`` as ``docker build`` sends it: without what .dockerignore
    excludes (Docker's own rules, through the Docker SDK's implementation of them)."""
    from docker.utils.build import exclude_paths

    lines = (source / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    for relative in sorted(exclude_paths(str(source), patterns)):
        origin, copy = source / relative, target / relative
        if origin.is_dir() and not origin.is_symlink():
            copy.mkdir(parents=True, exist_ok=True)
        else:
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, copy)


def dockerfile_pip_installs(dockerfile: Path) -> list[list[str]]:
    """The arguments of each ``RUN pip install ...`` line the Dockerfile adds after ``FROM``."""
    installs = []
    for line in dockerfile.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if words[:3] == ["RUN", "pip", "install"]:
            installs.append(words[3:])
    return installs


def uv() -> str:
    return str(Path(sys.executable).parent / "uv")


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{argv}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_image_install_steps_register_the_provider_and_import_the_dags(tmp_path: Path) -> None:
    installs = dockerfile_pip_installs(REPO_ROOT / "Dockerfile")
    assert installs, "the Dockerfile installs nothing: the provider would not be registered"
    # The image's copy of the project (ONBUILD COPY . /usr/local/airflow).
    project = tmp_path / "usr-local-airflow"
    copy_build_context(REPO_ROOT, project)
    assert [name for name in LEFT_OUT if (project / name).exists()] == []
    assert [name for name in KEPT if not (project / name).exists()] == []
    venv = tmp_path / "image-venv"
    python = str(venv / "bin" / "python")
    run([uv(), "venv", "--quiet", "--python", sys.executable, str(venv)])
    # The runtime's Airflow, then requirements.txt (the lock only pins versions already resolved).
    constraints = ["-c", str(REPO_ROOT / "requirements.lock")]
    run([uv(), "pip", "install", "--quiet", "--python", python, RUNTIME_AIRFLOW_PIN, *constraints])
    run(
        [
            uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            python,
            "-r",
            str(project / "requirements.txt"),
            *constraints,
        ]
    )
    for args in installs:
        args = [str(project) if a == IMAGE_PROJECT_DIR else a for a in args if a != "--no-cache-dir"]
        run([uv(), "pip", "install", "--quiet", "--python", python, *args])

    home = tmp_path / "airflow-home"
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(project / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(project / "plugins"),
        "ROBOFLOW_PIPELINES_FILE": str(project / "astro.yaml"),
        "PYTHONPATH": str(project),  # the runtime puts AIRFLOW_HOME's project on the path
    }
    providers = run([str(venv / "bin" / "airflow"), "providers", "list"], env=env, cwd=str(tmp_path)).stdout
    assert "roboflow-batch-airflow" in providers, providers
    hooks = run([str(venv / "bin" / "airflow"), "providers", "hooks"], env=env, cwd=str(tmp_path)).stdout
    assert "roboflow" in hooks and "RoboflowHook" in hooks, hooks

    check = (
        "import importlib.util, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(project / 'dags')!r})\n"
        "assert not bag.import_errors, bag.import_errors\n"
        "assert bag.dag_ids, 'no DAGs'\n"
        f"leftover = [m for m in {EMULATOR_ONLY!r} if importlib.util.find_spec(m)]\n"
        "assert not leftover, f'emulator-only packages in the image: {leftover}'\n"
        "dev = [m for m in ('include.devstack', 'include.roboflow_emulator')\n"
        "       if importlib.util.find_spec(m)]\n"
        "assert not dev, f'development code in the image: {dev}'\n"
        "print(sorted(bag.dag_ids))\n"
    )
    dags = run([python, "-c", check], env=env, cwd=str(tmp_path)).stdout
    assert "roboflow_" in dags
