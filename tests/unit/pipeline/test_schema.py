"""astro.yaml validation: every mistake is named by pipeline and field, with a suggestion for typos."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from include.roboflow_batch.pipeline.config_errors import PipelineConfigError
from include.roboflow_batch.pipeline.loader import (
    PIPELINES_FILE_ENV,
    load_pipelines,
    parse_pipelines,
    pipelines_file,
)
from include.roboflow_batch.pipeline.schema import GCSSource, LocalSource, S3Source


def problems_of(document: dict[str, Any]) -> list[str]:
    return parse_pipelines(document, Path("astro.yaml")).problems


def single(pipeline: dict[str, Any], **defaults: Any) -> list[str]:
    return problems_of({"defaults": defaults, "pipelines": [pipeline]})


def test_minimal_pipeline_is_valid_and_gets_defaults(pipeline: dict[str, Any]) -> None:
    loaded = parse_pipelines({"pipelines": [pipeline]}, Path("astro.yaml"))

    assert loaded.problems == []
    [config] = loaded.pipelines
    assert config.dag_id == "roboflow_demo_s3"
    assert isinstance(config.source, S3Source)
    assert config.source.conn_id == "aws_default"
    assert config.source.url_expiry == timedelta(hours=24)
    assert config.retries >= 2
    assert config.pool == "roboflow_api"
    assert config.export.stage == "export"


def test_typo_in_source_field_suggests_the_right_name(pipeline: dict[str, Any]) -> None:
    pipeline["source"]["bukcet"] = pipeline["source"].pop("bucket")

    problems = single(pipeline)

    assert "pipelines[demo_s3].source.bukcet: unknown field; did you mean 'bucket'?" in problems
    assert "pipelines[demo_s3].source.bucket: required field is missing" in problems


@pytest.mark.parametrize(
    ("block", "typo", "suggestion"),
    [
        ("job", "machne_type", "machine_type"),
        ("workflow", "image_input", "image_input_name"),
        ("export", "destinaton", "destination"),
        ("readiness", "max_failure", "max_failure_rate"),
    ],
)
def test_typos_in_nested_blocks_are_suggested(
    pipeline: dict[str, Any], block: str, typo: str, suggestion: str
) -> None:
    pipeline.setdefault(block, {})[typo] = 1

    problems = single(pipeline)

    assert f"pipelines[demo_s3].{block}.{typo}: unknown field; did you mean '{suggestion}'?" in problems


def test_top_level_pipeline_typo_is_suggested(pipeline: dict[str, Any]) -> None:
    pipeline["schedul"] = "1h"

    assert "pipelines[demo_s3].schedul: unknown field; did you mean 'schedule'?" in single(pipeline)


def test_unknown_field_without_close_match_has_no_suggestion(pipeline: dict[str, Any]) -> None:
    pipeline["source"]["zzz"] = 1

    assert "pipelines[demo_s3].source.zzz: unknown field" in single(pipeline)


def test_typo_in_defaults_is_reported_under_defaults(pipeline: dict[str, Any]) -> None:
    problems = problems_of(
        {"defaults": {"retires": 3, "job": {"machne_type": "gpu"}}, "pipelines": [pipeline]}
    )

    assert "defaults.retires: unknown field; did you mean 'retries'?" in problems


def test_typo_in_defaults_block_is_reported(pipeline: dict[str, Any]) -> None:
    problems = problems_of({"defaults": {"job": {"machne_type": "gpu"}}, "pipelines": [pipeline]})

    assert problems == ["defaults.job.machne_type: unknown field; did you mean 'machine_type'?"]


def test_top_level_typo_is_reported(pipeline: dict[str, Any]) -> None:
    problems = problems_of({"defautls": {}, "pipelines": [pipeline]})

    assert problems == ["defautls: unknown field; did you mean 'defaults'?"]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("source", "bucket"), "Bad_Bucket", "pipelines[demo_s3].source.bucket: not a valid S3 bucket name"),
        (("source", "prefix"), "/abs/", "pipelines[demo_s3].source.prefix: a prefix is relative"),
        (
            ("source", "media"),
            "audio",
            "pipelines[demo_s3].source.media: Input should be 'images' or 'videos'",
        ),
        (
            ("source", "url_expiry"),
            "8d",
            "pipelines[demo_s3].source.url_expiry: signed URLs live at most 7 days",
        ),
        (("source", "url_expiry"), "soon", "pipelines[demo_s3].source.url_expiry: expected a duration"),
        (
            ("source", "url_expiry"),
            "30s",
            "pipelines[demo_s3].source.url_expiry: signed URLs must live at least 1m",
        ),
        (("source", "references_uri"), "s3://p/{pipline}.jsonl", "unknown placeholder {pipline}"),
        (("source", "references_uri"), "ftp://p/x.jsonl", "unsupported URI scheme"),
        (("source", "kind"), "ftp", "pipelines[demo_s3].source.kind: must be one of 's3', 'gcs', 'local'"),
        (("workflow", "id"), "", "pipelines[demo_s3].workflow.id: String should have at least 1 character"),
        (
            ("job", "machine_type"),
            "tpu",
            "pipelines[demo_s3].job.machine_type: Input should be 'cpu' or 'gpu'",
        ),
        (
            ("job", "workers_per_machine"),
            0,
            "pipelines[demo_s3].job.workers_per_machine: Input should be greater",
        ),
        (
            ("job", "max_parallel_tasks"),
            -1,
            "pipelines[demo_s3].job.max_parallel_tasks: Input should be greater",
        ),
        (
            ("job", "processing_timeout"),
            "-1h",
            "pipelines[demo_s3].job.processing_timeout: expected a duration",
        ),
        (
            ("job", "max_image_failure_rate"),
            1.5,
            "pipelines[demo_s3].job.max_image_failure_rate: Input should be less",
        ),
        (
            ("job", "aggregation_format"),
            "xml",
            "pipelines[demo_s3].job.aggregation_format: Input should be 'csv'",
        ),
        (("job", "inference_backend"), "new", "pipelines[demo_s3].job.inference_backend: Input should be"),
        (("job", "wait_timeout"), 0, "pipelines[demo_s3].job.wait_timeout: a duration must be positive"),
        (
            ("readiness", "max_failure_rate"),
            -0.1,
            "pipelines[demo_s3].readiness.max_failure_rate: Input should be",
        ),
        (("readiness", "timeout"), "forever", "pipelines[demo_s3].readiness.timeout: expected a duration"),
        (
            ("export", "destination"),
            "s3://r/{when}/",
            "pipelines[demo_s3].export.destination: unknown placeholder",
        ),
        (
            ("export", "destination"),
            "s3://r/{interval_start:%Y",
            "pipelines[demo_s3].export.destination: not a valid",
        ),
        (
            ("export", "max_concurrency"),
            0,
            "pipelines[demo_s3].export.max_concurrency: Input should be greater",
        ),
        (
            ("export", "transfer_processes"),
            -1,
            "pipelines[demo_s3].export.transfer_processes: Input should be greater",
        ),
        (
            ("schedule",),
            "every hour",
            "pipelines[demo_s3].schedule: 'every hour' is neither a cron expression",
        ),
        (("timezone",), "Mars/Olympus", "pipelines[demo_s3].timezone: unknown time zone 'Mars/Olympus'"),
        (("retries",), -1, "pipelines[demo_s3].retries: Input should be greater than or equal to 0"),
        (("retry_delay",), "x", "pipelines[demo_s3].retry_delay: expected a duration"),
        (("max_active_runs",), 0, "pipelines[demo_s3].max_active_runs: Input should be greater"),
        (("pool",), "", "pipelines[demo_s3].pool: String should have at least 1 character"),
        (("owner",), "", "pipelines[demo_s3].owner: String should have at least 1 character"),
        (("tags",), "roboflow", "pipelines[demo_s3].tags: Input should be a valid list"),
        (
            ("webhook_url",),
            "hooks.example/x",
            "pipelines[demo_s3].webhook_url: a webhook URL must start with http",
        ),
        (("start_date",), "yesterday", "pipelines[demo_s3].start_date: Input should be a valid"),
        (("catchup",), "sometimes", "pipelines[demo_s3].catchup: Input should be a valid boolean"),
    ],
)
def test_bad_values_are_named(
    pipeline: dict[str, Any], path: tuple[str, ...], value: Any, expected: str
) -> None:
    target = pipeline
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value

    problems = single(pipeline)

    assert any(expected in problem for problem in problems), problems


def test_pipeline_id_rules() -> None:
    problems = single(
        {"id": "Demo S3", "source": {"kind": "local", "directory": "/d"}, "workflow": {"id": "w"}}
    )

    assert any(p.startswith("pipelines[Demo S3].id: 'Demo S3' is not a valid pipeline id") for p in problems)
    assert "pipelines[Demo S3].export: required field is missing" in problems


def test_media_specific_job_options_are_checked(pipeline: dict[str, Any]) -> None:
    pipeline["job"] = {"max_video_fps": 2}

    assert any("job.max_video_fps applies to video pipelines only" in p for p in single(pipeline))

    pipeline["job"] = {"max_image_failure_rate": 0.1}
    pipeline["source"]["media"] = "videos"
    assert any("job.max_image_failure_rate applies to image pipelines only" in p for p in single(pipeline))


def test_end_date_must_follow_start_date(pipeline: dict[str, Any]) -> None:
    pipeline.update(start_date="2026-02-01", end_date="2026-01-01")

    assert any("end_date must be after start_date" in p for p in single(pipeline))


def test_one_bad_pipeline_does_not_hide_the_others(pipeline: dict[str, Any]) -> None:
    broken = {**pipeline, "id": "broken", "source": {**pipeline["source"], "bukcet": "x"}}
    loaded = parse_pipelines({"pipelines": [pipeline, broken]}, Path("astro.yaml"))

    assert [p.id for p in loaded.pipelines] == ["demo_s3"]
    assert any(p.startswith("pipelines[broken].") for p in loaded.problems)


def test_duplicate_pipeline_ids_are_rejected(pipeline: dict[str, Any]) -> None:
    loaded = parse_pipelines({"pipelines": [pipeline, dict(pipeline)]}, Path("astro.yaml"))

    assert len(loaded.pipelines) == 1
    assert loaded.problems == ["pipelines[demo_s3].id: duplicate id (first used by pipeline #1)"]


def test_pipeline_without_id_is_named_by_position(pipeline: dict[str, Any]) -> None:
    del pipeline["id"]

    assert "pipelines[0].id: required field is missing" in single(pipeline)


def test_defaults_merge_into_nested_blocks(pipeline: dict[str, Any]) -> None:
    pipeline["job"] = {"workers_per_machine": 2}
    document = {
        "defaults": {
            "owner": "vision",
            "retries": 5,
            "job": {"machine_type": "gpu", "workers_per_machine": 8},
        },
        "pipelines": [pipeline],
    }

    [config] = parse_pipelines(document, Path("astro.yaml")).pipelines

    assert config.owner == "vision"
    assert config.retries == 5
    assert config.job.machine_type == "gpu"
    assert config.job.workers_per_machine == 2  # the pipeline's own value wins


def test_defaults_can_hold_the_export_destination(pipeline: dict[str, Any]) -> None:
    del pipeline["export"]
    document = {
        "defaults": {"export": {"destination": "results/{pipeline}/{interval_end:%Y%m%dT%H%M%S}/"}},
        "pipelines": [pipeline],
    }

    [config] = parse_pipelines(document, Path("astro.yaml")).pipelines

    assert config.export.destination == "results/{pipeline}/{interval_end:%Y%m%dT%H%M%S}/"


def test_gcs_and_local_sources(pipeline: dict[str, Any]) -> None:
    gcs = {
        **pipeline,
        "id": "g",
        "source": {**pipeline["source"], "kind": "gcs", "signing_conn_id": "signer"},
    }
    local = {**pipeline, "id": "l", "source": {"kind": "local", "directory": "drop", "media": "videos"}}

    loaded = parse_pipelines({"pipelines": [gcs, local]}, Path("astro.yaml"))

    assert loaded.problems == []
    assert isinstance(loaded.pipelines[0].source, GCSSource)
    assert loaded.pipelines[0].source.conn_id == "google_cloud_default"
    assert isinstance(loaded.pipelines[1].source, LocalSource)
    assert loaded.pipelines[1].source.select == "interval"


def test_s3_fields_are_not_accepted_on_local_sources(pipeline: dict[str, Any]) -> None:
    pipeline["source"] = {"kind": "local", "directory": "/d", "bucket": "b"}

    assert "pipelines[demo_s3].source.bucket: unknown field" in single(pipeline)


@pytest.mark.parametrize("schedule", ["0 * * * *", "@daily", "1h", "30m", "1d", None])
def test_accepted_schedules(pipeline: dict[str, Any], schedule: str | None) -> None:
    pipeline["schedule"] = schedule
    if schedule is None:  # manual windows start at any second
        pipeline["export"]["destination"] = "s3://results/{pipeline}/{interval_start:%Y%m%dT%H%M%S}/"
        pipeline["source"]["references_uri"] = "s3://private/{pipeline}/{interval_start}.jsonl"

    assert single(pipeline) == []


def test_missing_file_names_the_env_var(tmp_path: Path) -> None:
    with pytest.raises(PipelineConfigError, match=PIPELINES_FILE_ENV) as error:
        load_pipelines(tmp_path / "nope.yaml")

    assert "nope.yaml" in str(error.value)


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "astro.yaml"
    path.write_text("pipelines: [\n  - id: x\n")

    with pytest.raises(PipelineConfigError, match="not valid YAML") as error:
        load_pipelines(path)

    assert str(path) in str(error.value)


def test_pipelines_must_be_a_list(write_astro_yaml: Any) -> None:
    loaded = load_pipelines(write_astro_yaml({"pipelines": {"demo": {}}}))

    assert loaded.problems == ["pipelines: must be a list of pipelines, each with an 'id'"]


def test_env_var_overrides_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(PIPELINES_FILE_ENV, str(tmp_path / "other.yaml"))

    assert pipelines_file() == tmp_path / "other.yaml"


def test_project_astro_yaml_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PIPELINES_FILE_ENV, raising=False)

    loaded = load_pipelines()

    assert loaded.problems == []
    assert loaded.pipelines, "the project's astro.yaml should define at least one pipeline"


def test_error_message_lists_every_problem(pipeline: dict[str, Any], write_astro_yaml: Any) -> None:
    pipeline["source"]["bukcet"] = pipeline["source"].pop("bucket")
    loaded = load_pipelines(write_astro_yaml({"pipelines": [pipeline]}))

    with pytest.raises(PipelineConfigError) as error:
        loaded.raise_for_problems()

    message = str(error.value)
    assert "2 problems" in message
    assert "did you mean 'bucket'?" in message


def test_the_results_table_sits_beside_the_export_folders_unless_set(pipeline: dict[str, Any]) -> None:
    from include.roboflow_batch.pipeline.step_arguments import pipeline_arguments

    [default] = parse_pipelines({"pipelines": [pipeline]}, Path("astro.yaml")).pipelines
    pipeline["export"]["table_root"] = "gs://lake/roboflow"
    [chosen] = parse_pipelines({"pipelines": [pipeline]}, Path("astro.yaml")).pipelines

    table = pipeline_arguments(default, Path(".")).reconcile.table
    assert table["root"] == "s3://results/tables/"
    assert table["conn_id"] == "aws_default"  # the export's storage: the source's connection
    assert table["source"] == {
        "kind": "s3",
        "bucket": "raw-frames",
        "prefix": "incoming/",
        "conn_id": "aws_default",
    }
    chosen_table = pipeline_arguments(chosen, Path(".")).reconcile.table
    assert (chosen_table["root"], chosen_table["conn_id"]) == ("gs://lake/roboflow/", None)


@pytest.mark.parametrize(
    ("export", "fragment"),
    [
        ({"table_root": "s3://lake/{pipeline}/"}, "takes no placeholder"),
        ({"table_root": "ftp://lake/t/"}, "unsupported URI scheme"),
        ({"table_root": "s3://results/demo_s3/"}, "overlap"),  # the exports would land in the table
        ({"destination": "s3://{pipeline}-out/{interval_start:%Y%m%dT%H%M}/"}, "bucket is a placeholder"),
    ],
)
def test_a_table_root_that_cannot_work_is_refused_naming_the_field(
    pipeline: dict[str, Any], export: dict[str, Any], fragment: str
) -> None:
    pipeline["export"].update(export)

    [problem] = single(pipeline)

    assert "export.table_root" in problem and fragment in problem
