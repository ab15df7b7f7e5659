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

ROBOFLOW_STEPS = ["ingest", "wait_for_batch", "start_job", "wait_for_job", "account_spend", "export"]
S3_CHAIN = [
    "plan",
    "preflight",
    "list_new_objects",
    "plan_chunks",
    "spend_gate",
    *ROBOFLOW_STEPS,
    "reconcile",
]


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
    assert set(dag.params.keys()) == {
        "window_start",
        "window_end",
        "select_all",
        "on_changed_definition",
        "dry_run",
        "repair",
    }


def test_the_listing_and_reconcile_share_the_processed_content_record(pipeline: dict[str, Any]) -> None:
    tasks = build_dag(config(pipeline), Path("/project")).task_dict
    record = "s3://private/roboflow-state/demo_s3/processed-content/"
    assert arg(tasks["list_new_objects"], "processed_content") == record
    assert arg(tasks["list_new_objects"], "processed_content_conn_id") == "aws_default"
    reconcile = tasks["reconcile"].op_kwargs
    assert (reconcile["processed_content"], reconcile["processed_content_conn_id"]) == (record, "aws_default")

    pipeline["reprocess_unchanged"] = True
    tasks = build_dag(config(pipeline), Path("/project")).task_dict
    assert arg(tasks["list_new_objects"], "processed_content") is None
    assert tasks["reconcile"].op_kwargs["processed_content"] is None


def test_local_pipeline_lists_its_files_then_fans_out_like_object_stores(pipeline: dict[str, Any]) -> None:
    pipeline["source"] = {"kind": "local", "directory": "drop", "media": "videos", "select": "all"}

    dag = build_dag(config(pipeline), Path("/project"))

    assert chain_of(dag) == [
        "plan",
        "preflight",
        "list_local_files",
        "plan_chunks",
        "spend_gate",
        *ROBOFLOW_STEPS,
        "reconcile",
    ]
    ingest = dag.task_dict["ingest"]
    assert ingest.partial_kwargs["local_directory"] == "/project/drop"
    assert ingest.partial_kwargs["media_type"] == "videos"
    assert "references_conn_id" not in ingest.partial_kwargs
    spec = dag.task_dict["list_local_files"].op_kwargs["spec"]
    assert spec == {
        "directory": "/project/drop",
        "media_type": "videos",
        "select": "all",
        "state_directory": "/project/.roboflow-state",
        "max_objects_per_file": 1_000,
        # Local sources keep their processed-content record in their state directory.
        "processed_content": "file:///project/.roboflow-state/demo_s3/processed-content/",
        "processed_content_conn_id": None,
        "repair_conn_id": None,
    }


def arg(task: Any, name: str) -> Any:
    """An operator argument, whether the task is mapped (given to ``partial``) or not."""
    partial = getattr(task, "partial_kwargs", None)
    return partial.get(name) if partial is not None else getattr(task, name)


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


def test_local_pipeline_lists_the_plan_window_into_the_configured_state_directory(
    pipeline: dict[str, Any],
) -> None:
    pipeline["max_batch_objects"] = 15
    pipeline["source"] = {"kind": "local", "directory": "/data/drop", "state_directory": "state"}

    listing = build_dag(config(pipeline), Path("/project")).task_dict["list_local_files"]

    # The plan's window (params window_start / window_end / select_all included) reaches the listing.
    assert listing.op_kwargs["plan"].operator.task_id == "plan"
    assert listing.op_kwargs["spec"]["select"] == "interval"
    assert listing.op_kwargs["spec"]["state_directory"] == "/project/state"
    assert listing.op_kwargs["spec"]["max_objects_per_file"] == 15


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
        assert arg(dag.task_dict[task_id], "roboflow_conn_id") == "rf_prod"


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

    assert arg(start, "workflow_id") == "wf"
    assert arg(start, "workflow_parameters") == {"threshold": 0.4}
    assert arg(start, "image_input_name") == "img"
    assert arg(start, "machine_type") == "gpu"
    assert arg(start, "workers_per_machine") == 2
    assert arg(start, "max_parallel_tasks") == 3
    # The job's ceiling is what the spend gate reserved for its chunk (start_job_kwargs), never above
    # job.processing_timeout, which the gate's policy carries.
    assert "processing_timeout_seconds" not in start.partial_kwargs
    assert dag.task_dict["spend_gate"].policy["processing_timeout_seconds"] == 7200
    assert arg(start, "max_image_failure_rate") == 0.1
    assert arg(start, "aggregation_format") == "csv"
    assert arg(start, "notifications_url") == "https://hooks.example.com/roboflow"
    assert arg(wait, "timeout") == 3 * 3600
    # With webhooks the wait asks Roboflow only at the slow fallback and wakes on notifications.
    assert arg(wait, "poke_interval") == 120
    assert arg(wait, "notification_check_interval") == 1.0


def test_readiness_and_export_options(pipeline: dict[str, Any]) -> None:
    pipeline["readiness"] = {"max_failure_rate": 0.05, "timeout": "20m"}
    pipeline["export"] = {
        "destination": "s3://out/{pipeline}/{interval_start:%Y%m%dT%H%M}/",
        "conn_id": "aws_out",
        "stage": "processing",
        "transfer_processes": 0,
    }

    dag = build_dag(config(pipeline), Path("/project"))
    ready, export = dag.task_dict["wait_for_batch"], dag.task_dict["export"]

    assert arg(ready, "max_failure_rate") == 0.05
    assert arg(ready, "timeout") == 1200
    assert arg(export, "destination_conn_id") == "aws_out"
    assert arg(export, "stage") == "processing"
    assert arg(export, "transfer_processes") == 0


def _storage_conns(dag: Any) -> dict[str, str | None]:
    tasks = dag.task_dict
    return {
        "list_new_objects": tasks["list_new_objects"].destination_conn_id,
        "ingest": arg(tasks["ingest"], "references_conn_id"),
        "export.references": arg(tasks["export"], "references_conn_id"),
        "export.destination": arg(tasks["export"], "destination_conn_id"),
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


def test_mapped_steps_keep_the_job_recovery_options(pipeline: dict[str, Any]) -> None:
    pipeline["job"] = {
        "on_changed_definition": "fail",
        "max_restarts": 3,
        "max_parallel_tasks": 4,
        "aggregation_format": "jsonl",
    }

    dag = build_dag(config(pipeline), Path("/project"))

    start_job = dag.task_dict["start_job"].partial_kwargs
    assert start_job["max_restarts"] == 3
    assert "params.on_changed_definition or 'fail'" in start_job["on_changed_definition"]
    # The start task counts the wait's restarts (it reads what that wait published for its chunk);
    # the wait restarts within the same budget, with only what a restart can carry.
    assert start_job["job_wait_task_id"] == "wait_for_job"
    wait = dag.task_dict["wait_for_job"].partial_kwargs
    assert wait["max_restarts"] == 3
    assert wait["restart_options"] == {"max_parallel_tasks": 4}
    # The histories travel with each chunk's values (start_job's and the wait's return values).
    assert "job_history" not in wait
    assert "job_history" not in dag.task_dict["export"].partial_kwargs


def test_without_webhooks_the_waits_poll_at_their_own_interval(pipeline: dict[str, Any]) -> None:
    pipeline["job"] = {**pipeline.get("job", {}), "poke_interval": "30s"}
    dag = build_dag(config(pipeline), Path("/project"))

    wait = dag.get_task("wait_for_job")
    assert (arg(wait, "poke_interval"), arg(wait, "notification_check_interval")) == (30, None)
    assert arg(dag.get_task("wait_for_batch"), "notification_check_interval") is None


def test_the_results_asset_is_updated_once_per_window_by_reconcile(pipeline: dict[str, Any]) -> None:
    from include.roboflow_batch.export.results_asset import results_asset

    dag = build_dag(config(pipeline), Path("/project"))

    assert dag.task_dict["reconcile"].outlets == [results_asset(pipeline["id"])]
    # Each chunk's export writes its own manifest but no event: several chunks would give several.
    assert not dag.task_dict["export"].outlets
