"""``max_batch_objects``: per pipeline or in defaults, a default by media, and where it takes effect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from include.roboflow_batch.pipeline.factory import build_dag
from include.roboflow_batch.pipeline.loader import parse_pipelines
from include.roboflow_batch.pipeline.step_arguments import max_batch_objects


def load(pipeline: dict[str, Any], **defaults: Any) -> Any:
    return parse_pipelines({"defaults": defaults, "pipelines": [pipeline]}, Path("astro.yaml"))


def test_default_limit_follows_the_media(pipeline: dict[str, Any]) -> None:
    [images] = load(pipeline).pipelines
    pipeline["source"]["media"] = "videos"
    [videos] = load(pipeline).pipelines

    assert max_batch_objects(images) == 100_000
    assert max_batch_objects(videos) == 1_000


def test_defaults_set_the_limit_and_a_pipeline_overrides_it(pipeline: dict[str, Any]) -> None:
    [inherited] = load(pipeline, max_batch_objects=5_000).pipelines
    [own] = load({**pipeline, "max_batch_objects": 250}, max_batch_objects=5_000).pipelines

    assert max_batch_objects(inherited) == 5_000
    assert max_batch_objects(own) == 250


@pytest.mark.parametrize("value", [0, -3, "many"])
def test_a_bad_limit_is_named(pipeline: dict[str, Any], value: object) -> None:
    problems = load({**pipeline, "max_batch_objects": value}).problems

    assert len(problems) == 1 and problems[0].startswith("pipelines[demo_s3].max_batch_objects:"), problems


def test_the_listing_splits_the_window_at_the_limit(pipeline: dict[str, Any]) -> None:
    [config] = load({**pipeline, "max_batch_objects": 15}).pipelines

    dag = build_dag(config, Path("/project"))

    assert dag.task_dict["list_new_objects"].limits.max_objects_per_file == 15
    for task_id in ("ingest", "wait_for_batch", "start_job", "wait_for_job", "export"):
        assert dag.task_dict[task_id].is_mapped, task_id


def test_every_mapped_step_expands_over_the_chunk_plan_and_reads_its_own_chunk(
    pipeline: dict[str, Any],
) -> None:
    [config] = load(pipeline).pipelines

    dag = build_dag(config, Path("/project"))

    def expanded_over(task_id: str) -> list[str]:
        return [
            upstream.task_id for upstream, _key in dag.task_dict[task_id].expand_input.value.iter_references()
        ]

    assert expanded_over("ingest") == ["plan_chunks"]
    # The job runs on the batch its chunk's ingest staged (a new id when Roboflow kept an expired one),
    # with the machine-time ceiling the spend gate reserved for that chunk.
    assert expanded_over("start_job") == ["plan_chunks", "ingest", "spend_gate"]
    # The batch wait takes its batch and count from its own chunk's ingest, as values.
    assert expanded_over("wait_for_batch") == ["ingest"]
    # The job wait and the export follow the job start_job chose (a new attempt has its own id).
    assert expanded_over("wait_for_job") == ["start_job"]
    assert expanded_over("export") == ["plan_chunks", "ingest", "start_job", "wait_for_job"]
    for task_id in ("wait_for_batch", "export"):
        # Per chunk, never a template rendered for every chunk alike.
        assert "expected_count" not in dag.task_dict[task_id].partial_kwargs, task_id
    assert set(dag.task_dict["reconcile"].upstream_task_ids) >= {
        "export",
        "plan_chunks",
        "list_new_objects",
        "start_job",
    }
