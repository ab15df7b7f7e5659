"""Child process of bench_roboflow_view: a metadata DB with N pipelines x M finished runs, then the
view's queries timed against it. Prints one JSON line. Run with a fresh, migrated AIRFLOW_HOME."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

STEP_RESULTS = {
    "plan": lambda i: {
        "window_start": f"2026-11-{1 + i % 28:02d}T00:00",
        "window_end": "…",
        "batch_id": f"b{i}",
    },
    "list_new_objects": lambda i: {"count": 100, "skipped_count": i % 3, "skipped": {"empty-object": i % 3}},
    "ingest": lambda i: {"expected_count": 100 + i % 7, "batch_id": f"b{i}"},
    "wait_for_batch": lambda i: {
        "staged": 100,
        "failed_count": 7,
        "failed_by_type": {"file-not-reachable": 7},
    },
    "start_job": lambda i: {"job_id": f"j{i}", "job_url": f"https://app.roboflow.com/ws/jobs/j{i}"},
    "wait_for_job": lambda i: {"job_id": f"j{i}", "succeeded": True},
    "export": lambda i: {
        "destination": f"s3://r/{i}/",
        "manifest_uri": f"s3://r/{i}/m.json",
        "result_rows": 100 + i % 13,
        "spend": {"credits": 0.25 + i % 5 / 10},
    },
}


def seed(pipelines: int, runs: int, workdir: Path) -> list[str]:
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    from bench.bench_dag_parse import pipelines_document

    document = pipelines_document(pipelines)
    path = workdir / "astro.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    os.environ["ROBOFLOW_PIPELINES_FILE"] = str(path)
    from include.devstack.services import REPO_ROOT

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, "dags-folder", None)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    counter = 0
    with create_session() as session:
        for dag_id in sorted(bag.dag_ids):
            dag = SerializedDagModel.get_dag(dag_id, session=session)
            for index in range(runs):
                when = start + timedelta(hours=index)
                run = dag.create_dagrun(
                    run_id=f"scheduled__{when.isoformat()}",
                    logical_date=when,
                    data_interval=(when - timedelta(hours=1), when),
                    run_after=when,
                    run_type=DagRunType.SCHEDULED,
                    triggered_by=DagRunTriggeredByType.TIMETABLE,
                    state=DagRunState.SUCCESS,
                    session=session,
                )
                for ti in run.get_task_instances(session=session):
                    ti.state = TaskInstanceState.SUCCESS
                    # Start and end times, which the job-duration trend reads.
                    ti.start_date = when + timedelta(minutes=1)
                    ti.end_date = when + timedelta(minutes=5 + index % 7)
                session.flush()
                for task_id, make in STEP_RESULTS.items():
                    if task_id in dag.task_ids:
                        XComModel.set("return_value", make(counter), dag_id=dag_id, task_id=task_id,
                                      run_id=run.run_id, session=session)  # fmt: skip
                counter += 1
            session.commit()
    assert counter == pipelines * runs
    return sorted(bag.dag_ids)


def timed(fn: Any, repeats: int = 7) -> float:
    """Median milliseconds of ``repeats`` calls, after one warm-up call."""
    fn()  # warm
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main(pipelines: int, runs: int, workdir: str) -> None:
    from airflow.utils.session import create_session

    from include.roboflow_batch.webui.pages import overview_page, run_page
    from include.roboflow_batch.webui.runs import one_run, pipeline_dag_ids, recent_runs

    started = time.perf_counter()
    dag_ids = seed(pipelines, runs, Path(workdir))
    seeded = time.perf_counter() - started

    def overview() -> None:
        with create_session() as session:
            grouped = recent_runs(session, pipeline_dag_ids(session), 10)
        page = overview_page("/roboflow-ui", grouped, [], 0.0)
        assert 'svg class="sparkline"' in page

    def overview_without_trends() -> None:
        with create_session() as session:
            grouped = recent_runs(session, pipeline_dag_ids(session), 10)
        overview_page("/roboflow-ui", grouped, [], 0.0, trends=False)

    def run_tab() -> None:
        with create_session() as session:
            run = one_run(session, dag_ids[-1], "scheduled__2026-01-01T00:00:00+00:00")
        assert run is not None and run.found is not None
        run_page("/roboflow-ui", run, [])

    with create_session() as session:
        grouped = recent_runs(session, pipeline_dag_ids(session), 10)
        shown = sum(len(r) for r in grouped.values())
    # Alternating, so that both see the same machine load.
    with_trends, without = [], []
    for _ in range(3):
        with_trends.append(timed(overview))
        without.append(timed(overview_without_trends))
    print(json.dumps({"overview_ms": statistics.median(with_trends), "run_tab_ms": timed(run_tab),
                      "overview_without_trends_ms": statistics.median(without), "seed_s": seeded,
                      "pipelines": len(grouped), "runs_shown": shown}))  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
