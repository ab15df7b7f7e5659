"""DAG integrity: the project's dags/ folder imports cleanly and every DAG meets the house rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from include.roboflow_batch.pipeline.loader import PIPELINES_FILE_ENV, load_pipelines

REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO_ROOT / "dags"


def dag_bag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    # DagBag(include_examples=...) raises TypeError in Airflow 3.3; examples are off in tests/conftest.py.
    return DagBag(dag_folder=str(DAGS_FOLDER))


@pytest.fixture(scope="module")
def project_bag() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(PIPELINES_FILE_ENV, raising=False)
        return dag_bag()


def test_no_import_errors(project_bag: Any) -> None:
    assert project_bag.import_errors == {}


def test_one_dag_per_pipeline(project_bag: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PIPELINES_FILE_ENV, raising=False)
    expected = {pipeline.dag_id for pipeline in load_pipelines().pipelines}

    assert expected
    assert expected <= set(project_bag.dag_ids)


def test_every_dag_follows_the_rules(project_bag: Any) -> None:
    assert project_bag.dags
    for dag_id, dag in project_bag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        assert dag.max_active_runs >= 1
        for task in dag.tasks:
            assert task.retries >= 2, f"{dag_id}.{task.task_id} retries {task.retries} < 2"
            assert task.owner and task.owner != "airflow", f"{dag_id}.{task.task_id} has no owner"
            assert task.retry_exponential_backoff, f"{dag_id}.{task.task_id} retries without backoff"


def test_every_dag_has_a_data_interval_schedule(project_bag: Any) -> None:
    from airflow.sdk import CronDataIntervalTimetable, DeltaDataIntervalTimetable

    for dag_id, dag in project_bag.dags.items():
        if dag.timetable is not None and dag.timetable.__class__.__name__ != "NullTimetable":
            assert isinstance(dag.timetable, CronDataIntervalTimetable | DeltaDataIntervalTimetable), dag_id


def test_bad_pipeline_is_an_import_error_and_the_good_one_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = yaml.safe_load((REPO_ROOT / "astro.yaml").read_text())
    good = document["pipelines"][0]
    bad = {**good, "id": "typo_pipeline", "source": {**good["source"], "bukcet": "oops"}}
    bad["source"].pop("bucket")
    document["pipelines"] = [good, bad]
    path = tmp_path / "astro.yaml"
    path.write_text(yaml.safe_dump(document))
    monkeypatch.setenv(PIPELINES_FILE_ENV, str(path))

    bag = dag_bag()

    assert f"roboflow_{good['id']}" in bag.dag_ids
    assert "roboflow_typo_pipeline" not in bag.dag_ids
    [(file_name, message)] = bag.import_errors.items()
    assert file_name.endswith("roboflow_pipeline_problems.py")
    assert "pipelines[typo_pipeline].source.bukcet: unknown field; did you mean 'bucket'?" in message
