"""The DAG factory: one DAG per pipeline, wired from the operators with the options of astro.yaml."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import CronDataIntervalTimetable, DeltaDataIntervalTimetable

from include.roboflow_batch.pipeline.config_errors import PipelineConfigError
from include.roboflow_batch.pipeline.factory import build_dag, raise_pipeline_problems, register_pipelines
from include.roboflow_batch.pipeline.loader import parse_pipelines
from include.roboflow_batch.pipeline.schema import PipelineConfig

S3_CHAIN = ["plan", "list_new_objects", "ingest", "wait_for_batch", "start_job", "wait_for_job", "export"]


def config(pipeline: dict[str, Any], **defaults: Any) -> PipelineConfig:
    loaded = parse_pipelines({"defaults": defaults, "pipelines": [pipeline]}, Path("/project/astro.yaml"))
    assert loaded.problems == []
    return loaded.pipelines[0]


def chain_of(dag: Any) -> list[str]:
    """Task ids from the root along the single downstream path."""
    [task] = [t for t in dag.tasks if not t.upstream_task_ids]
    order = [task.task_id]
    while task.downstream_task_ids:
        [next_id] = [
            t for t in task.downstream_task_ids if set(dag.task_dict[t].upstream_task_ids) <= set(order)
        ]
        task = dag.task_dict[next_id]
        order.append(task.task_id)
    return order


def test_s3_pipeline_dag_shape(pipeline: dict[str, Any]) -> None:
    dag = build_dag(config(pipeline), Path("/project"))

    assert dag.dag_id == "roboflow_demo_s3"
    assert chain_of(dag) == S3_CHAIN
    assert {"roboflow", "s3", "images"} <= set(dag.tags)
    assert "bright-spot-detector" in dag.doc_md
    assert "s3://raw-frames/incoming/" in dag.doc_md
    assert dag.max_active_runs == 1
    assert set(dag.params.keys()) == {"window_start", "window_end", "select_all", "on_changed_definition"}


def test_local_pipeline_has_no_listing_step(pipeline: dict[str, Any]) -> None:
    pipeline["source"] = {"kind": "local", "directory": "drop", "media": "videos", "select": "all"}

    dag = build_dag(config(pipeline), Path("/project"))

    assert chain_of(dag) == [step for step in S3_CHAIN if step != "list_new_objects"]
    ingest = dag.task_dict["ingest"]
    assert ingest.local_directory == "/project/drop"
    assert ingest.select == "all"
    assert ingest.media_type == "videos"


def plan_keys(task: Any, *fields: str) -> dict[str, tuple[str, str] | Any]:
    """Each field as (upstream task id, XCom key) when it is pulled from another task, else its value."""
    return {
        field: (value.operator.task_id, value.key) if hasattr(value, "operator") else value
        for field in fields
        for value in [getattr(task, field)]
    }


WINDOW_FIELDS = ("select", "interval_start", "interval_end")
PLAN_WINDOW = {
    "select": ("plan", "select"),
    "interval_start": ("plan", "window_start"),
    "interval_end": ("plan", "window_end"),
}


def test_local_pipeline_takes_the_window_of_the_plan_like_object_stores(pipeline: dict[str, Any]) -> None:
    s3_dag = build_dag(config(pipeline), Path("/project"))
    pipeline["source"] = {"kind": "local", "directory": "drop"}
    local_dag = build_dag(config(pipeline), Path("/project"))

    # So the params window_start / window_end / select_all of a manual run reach the local ingest too.
    assert plan_keys(local_dag.task_dict["ingest"], *WINDOW_FIELDS) == PLAN_WINDOW
    assert plan_keys(s3_dag.task_dict["list_new_objects"], *WINDOW_FIELDS) == PLAN_WINDOW


def test_local_pipeline_selecting_all_files_ignores_the_window(pipeline: dict[str, Any]) -> None:
    pipeline["source"] = {"kind": "local", "directory": "drop", "select": "all"}

    ingest = build_dag(config(pipeline), Path("/project")).task_dict["ingest"]

    assert plan_keys(ingest, *WINDOW_FIELDS) == {
        "select": "all",
        "interval_start": None,
        "interval_end": None,
    }


@pytest.mark.parametrize(
    ("schedule", "kind", "detail"),
    [
        ("0 * * * *", CronDataIntervalTimetable, "0 * * * *"),
        ("@daily", CronDataIntervalTimetable, "0 0 * * *"),
        ("1h", DeltaDataIntervalTimetable, timedelta(hours=1)),
    ],
)
def test_schedules_have_real_data_intervals(
    pipeline: dict[str, Any], schedule: str, kind: type, detail: object
) -> None:
    pipeline["schedule"] = schedule

    timetable = build_dag(config(pipeline), Path("/project")).timetable

    assert isinstance(timetable, kind)
    assert detail in (getattr(timetable, "expression", None), getattr(timetable, "delta", None))


def test_retries_owner_pool_and_connections_reach_every_task(pipeline: dict[str, Any]) -> None:
    pipeline.update(owner="vision", retries=4, retry_delay="2m", pool="rf_pool", roboflow_conn_id="rf_prod")

    dag = build_dag(config(pipeline), Path("/project"))

    for task in dag.tasks:
        assert task.owner == "vision"
        assert task.retries == 4
        assert task.retry_delay == timedelta(minutes=2)
        assert task.retry_exponential_backoff == 2.0
    for task_id in ("ingest", "wait_for_batch", "start_job", "wait_for_job", "export"):
        assert dag.task_dict[task_id].pool == "rf_pool"
        assert dag.task_dict[task_id].roboflow_conn_id == "rf_prod"


def test_job_options_map_to_the_start_job_operator(pipeline: dict[str, Any]) -> None:
    pipeline["workflow"] = {"id": "wf", "parameters": {"threshold": 0.4}, "image_input_name": "img"}
    pipeline["job"] = {
        "machine_type": "gpu",
        "workers_per_machine": 2,
        "max_parallel_tasks": 3,
        "processing_timeout": "2h",
        "max_image_failure_rate": 0.1,
        "aggregation_format": "csv",
        "wait_timeout": "3h",
        "poke_interval": "30s",
    }
    pipeline["webhook_url"] = "https://hooks.example.com/roboflow"

    dag = build_dag(config(pipeline), Path("/project"))
    start, wait = dag.task_dict["start_job"], dag.task_dict["wait_for_job"]

    assert start.workflow_id == "wf"
    assert start.workflow_parameters == {"threshold": 0.4}
    assert start.image_input_name == "img"
    assert start.machine_type == "gpu"
    assert start.workers_per_machine == 2
    assert start.max_parallel_tasks == 3
    assert start.processing_timeout_seconds == 7200
    assert start.max_image_failure_rate == 0.1
    assert start.aggregation_format == "csv"
    assert start.notifications_url == "https://hooks.example.com/roboflow"
    assert wait.timeout == 3 * 3600
    # With webhooks the wait asks Roboflow only at the slow fallback and wakes on notifications.
    assert wait.poke_interval == 120
    assert wait.notification_check_interval == 1.0


def test_readiness_and_export_options(pipeline: dict[str, Any]) -> None:
    pipeline["readiness"] = {"max_failure_rate": 0.05, "timeout": "20m"}
    pipeline["export"] = {
        "destination": "s3://out/{pipeline}/{interval_start:%Y%m%dT%H%M}/",
        "conn_id": "aws_out",
        "stage": "processing",
    }

    dag = build_dag(config(pipeline), Path("/project"))
    ready, export = dag.task_dict["wait_for_batch"], dag.task_dict["export"]

    assert ready.max_failure_rate == 0.05
    assert ready.timeout == 1200
    assert export.destination_conn_id == "aws_out"
    assert export.stage == "processing"


def _storage_conns(dag: Any) -> dict[str, str | None]:
    tasks = dag.task_dict
    return {
        "list_new_objects": tasks["list_new_objects"].destination_conn_id,
        "ingest": tasks["ingest"].references_conn_id,
        "export.references": tasks["export"].references_conn_id,
        "export.destination": tasks["export"].destination_conn_id,
    }


@pytest.mark.parametrize(("kind", "scheme"), [("s3", "s3"), ("gcs", "gs")])
def test_locations_on_the_source_storage_use_the_source_connection(
    pipeline: dict[str, Any], kind: str, scheme: str
) -> None:
    pipeline["source"].update(kind=kind, conn_id="store")
    pipeline["source"]["references_uri"] = (
        f"{scheme}://private/{{pipeline}}/{{interval_start:%Y%m%dT%H%M}}.jsonl"
    )
    pipeline["export"]["destination"] = f"{scheme}://out/{{pipeline}}/{{interval_start:%Y%m%dT%H%M}}/"

    conns = _storage_conns(build_dag(config(pipeline), Path("/project")))

    assert set(conns.values()) == {"store"}


def test_a_given_connection_wins_and_other_storage_gets_none(pipeline: dict[str, Any]) -> None:
    pipeline["source"].update(conn_id="store", references_conn_id="private_store")
    pipeline["export"]["destination"] = "gs://out/{pipeline}/{interval_start:%Y%m%dT%H%M}/"

    conns = _storage_conns(build_dag(config(pipeline), Path("/project")))

    assert conns == {
        "list_new_objects": "private_store",
        "ingest": "private_store",
        "export.references": "private_store",
        "export.destination": None,  # gs:// is not the S3 source's storage
    }


def test_bad_pipeline_is_left_out_and_reported(pipeline: dict[str, Any], write_astro_yaml: Any) -> None:
    broken = {**pipeline, "id": "broken", "source": {**pipeline["source"], "bukcet": "x"}}
    path = write_astro_yaml({"pipelines": [pipeline, broken]})
    namespace: dict[str, Any] = {}

    assert register_pipelines(namespace, path) == ["roboflow_demo_s3"]
    assert list(namespace) == ["roboflow_demo_s3"]
    with pytest.raises(PipelineConfigError, match=r"pipelines\[broken\]\.source\.bukcet: unknown field"):
        raise_pipeline_problems(path)


def test_valid_file_raises_nothing(pipeline: dict[str, Any], write_astro_yaml: Any) -> None:
    raise_pipeline_problems(write_astro_yaml({"pipelines": [pipeline]}))


def test_unreadable_file_registers_nothing_and_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "astro.yaml"
    path.write_text("pipelines: [")
    namespace: dict[str, Any] = {}

    assert register_pipelines(namespace, path) == []
    with pytest.raises(PipelineConfigError, match="not valid YAML"):
        raise_pipeline_problems(path)


def test_without_webhooks_the_waits_poll_at_their_own_interval(pipeline: dict[str, Any]) -> None:
    pipeline["job"] = {**pipeline.get("job", {}), "poke_interval": "30s"}
    dag = build_dag(config(pipeline), Path("/project"))

    wait = dag.get_task("wait_for_job")
    assert (wait.poke_interval, wait.notification_check_interval) == (30, None)
    assert dag.get_task("wait_for_batch").notification_check_interval is None
