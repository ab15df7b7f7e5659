"""Locations that cannot collide: a destination shared by two windows or two pipelines is refused."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from include.roboflow_batch.pipeline.config_errors import PipelineConfigError
from include.roboflow_batch.pipeline.loader import load_pipelines, parse_pipelines


def parse(*pipelines: dict[str, Any], **defaults: Any) -> tuple[list[str], list[str]]:
    loaded = parse_pipelines({"defaults": defaults, "pipelines": list(pipelines)}, Path("/p/astro.yaml"))
    return [config.id for config in loaded.pipelines], loaded.problems


@pytest.mark.parametrize(
    ("schedule", "destination"),
    [
        ("0 * * * *", "s3://results/{pipeline}/"),  # no window at all
        ("0 * * * *", "s3://results/{pipeline}/{interval_start:%Y%m%d}/"),  # hourly, daily folders
        ("@daily", "s3://results/{pipeline}/{interval_start:%m%d}/"),  # no year
        ("@daily", "s3://results/{pipeline}/{interval_start:%H}/"),  # always 00
        ("1d", "s3://results/{pipeline}/{dag_id}/"),
        ("30m", "s3://results/{interval_end:%Y-%m-%d %H}/{pipeline}/"),
        ("@monthly", "s3://results/{pipeline}/{interval_start:%Y-%d}/"),
        (None, "s3://results/{pipeline}/{interval_start:%Y%m%dT%H%M}/"),  # manual runs start at any second
    ],
)
def test_destination_that_does_not_vary_with_the_window_is_refused(
    pipeline: dict[str, Any], schedule: str | None, destination: str
) -> None:
    pipeline["schedule"] = schedule
    pipeline["source"]["references_uri"] = "s3://private/{pipeline}/{interval_start}.jsonl"
    pipeline["export"]["destination"] = destination

    ids, problems = parse(pipeline)

    assert ids == []
    [problem] = problems
    assert problem.startswith("pipelines[demo_s3].export.destination: ")
    assert "gives the same location for the windows starting" in problem


@pytest.mark.parametrize(
    ("schedule", "destination"),
    [
        ("0 * * * *", "s3://results/{pipeline}/{interval_start:%Y%m%dT%H}/"),
        ("@daily", "s3://results/{pipeline}/{interval_end:%Y/%m/%d}/"),
        ("1d", "results/{pipeline}/{interval_start:%Y%m%d}/"),
        ("@monthly", "s3://results/{pipeline}/{interval_start:%Y-%m}/"),
        (None, "s3://results/{pipeline}/{interval_start}/"),
    ],
)
def test_destination_with_the_window_at_the_schedules_grain_is_accepted(
    pipeline: dict[str, Any], schedule: str | None, destination: str
) -> None:
    pipeline["schedule"] = schedule
    pipeline["source"]["references_uri"] = "s3://private/{pipeline}/{interval_start}.jsonl"
    pipeline["export"]["destination"] = destination

    assert parse(pipeline) == (["demo_s3"], [])


def test_references_file_shared_by_windows_is_refused(pipeline: dict[str, Any]) -> None:
    pipeline["source"]["references_uri"] = "s3://private/{pipeline}/latest.jsonl"

    ids, [problem] = parse(pipeline)

    assert ids == []
    assert problem.startswith("pipelines[demo_s3].source.references_uri: ")


def _named(pipeline: dict[str, Any], pipeline_id: str, **changes: Any) -> dict[str, Any]:
    other = copy.deepcopy(pipeline)
    other["id"] = pipeline_id
    for path, value in changes.items():
        block, field = path.split("__")
        other[block][field] = value
    return other


def test_two_pipelines_with_the_same_destination_are_refused_naming_both(pipeline: dict[str, Any]) -> None:
    shared = "s3://results/{interval_start:%Y%m%dT%H%M}/"
    first = _named(pipeline, "cams", export__destination=shared)
    second = _named(pipeline, "docks", export__destination=shared)

    ids, [problem] = parse(first, second)

    assert ids == ["cams"]  # the earlier pipeline keeps its DAG
    assert problem.startswith("pipelines[docks].export.destination: ")
    assert "pipeline 'cams' (export.destination)" in problem


def test_destinations_of_different_schedules_that_meet_are_refused(pipeline: dict[str, Any]) -> None:
    hourly = _named(pipeline, "hourly", export__destination="s3://results/{interval_start:%Y%m%dT%H%M}/")
    hourly["schedule"] = "@hourly"
    daily = _named(pipeline, "daily", export__destination="s3://results/{interval_start:%Y%m%dT%H%M}/")
    daily["schedule"] = "@daily"

    ids, [problem] = parse(hourly, daily)

    assert ids == ["hourly"]
    assert "pipelines[daily].export.destination" in problem and "'hourly'" in problem


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("s3://results/{interval_start:%Y%m%dT%H%M}/", "s3://results/{interval_start:%Y%m%dT%H%M}/docks/"),
        ("s3://results/{interval_start:%Y%m%dT%H%M}/cams/", "s3://results/{interval_start:%Y%m%dT%H%M}/"),
        ("results/{interval_start:%Y%m%dT%H%M}", "./results/../results/{interval_start:%Y%m%dT%H%M}/"),
        ("/abs/out/{interval_start:%Y%m%dT%H%M}/", "file:///abs/out/{interval_start:%Y%m%dT%H%M}/"),
    ],
)
def test_destinations_inside_each_other_or_spelled_differently_are_refused(
    pipeline: dict[str, Any], first: str, second: str
) -> None:
    ids, [problem] = parse(
        _named(pipeline, "cams", export__destination=first),
        _named(pipeline, "docks", export__destination=second),
    )

    assert ids == ["cams"]
    assert problem.startswith("pipelines[docks].export.destination: ") and "'cams'" in problem


def test_shared_references_file_between_pipelines_is_refused(pipeline: dict[str, Any]) -> None:
    uri = "s3://private/refs/{interval_start:%Y%m%dT%H%M}.jsonl"
    ids, [problem] = parse(
        _named(pipeline, "cams", source__references_uri=uri),
        _named(pipeline, "docks", source__references_uri=uri),
    )

    assert ids == ["cams"]
    assert problem.startswith("pipelines[docks].source.references_uri: ") and "'cams'" in problem


def test_pipelines_told_apart_by_their_id_are_accepted(pipeline: dict[str, Any]) -> None:
    template = "s3://results/{pipeline}/{interval_start:%Y%m%dT%H%M}/"
    ids, problems = parse(
        _named(pipeline, "cams", export__destination=template),
        _named(pipeline, "cams2", export__destination=template),
    )

    assert (ids, problems) == (["cams", "cams2"], [])


def test_schedule_null_in_defaults_is_honoured(pipeline: dict[str, Any]) -> None:
    pipeline["export"]["destination"] = "s3://results/{pipeline}/{interval_start:%Y%m%dT%H%M%S}/"
    pipeline["source"]["references_uri"] = "s3://private/{pipeline}/{interval_start:%Y%m%dT%H%M%S}.jsonl"

    [config] = parse_pipelines(
        {"defaults": {"schedule": None}, "pipelines": [pipeline]}, Path("/p/astro.yaml")
    ).pipelines

    assert config.schedule is None


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "defaults: {owner: me}\n", "pipelines: []\n"])
def test_file_without_pipelines_is_an_error_saying_so(tmp_path: Path, text: str) -> None:
    path = tmp_path / "astro.yaml"
    path.write_text(text)

    with pytest.raises(PipelineConfigError, match="no pipeline defined") as error:
        load_pipelines(path).raise_for_problems()

    assert str(path) in str(error.value)


@pytest.mark.parametrize("document", ["README.md", "docs/astro-yaml.md"])
def test_documented_examples_are_valid(document: str) -> None:
    import re

    import yaml

    root = Path(__file__).resolve().parents[3]
    blocks = re.findall(r"```yaml\n(.*?)```", (root / document).read_text(), re.S)
    examples = [yaml.safe_load(block) for block in blocks]
    examples = [example for example in examples if isinstance(example, dict) and "pipelines" in example]

    assert examples
    for example in examples:
        loaded = parse_pipelines(example, Path("/p/astro.yaml"))
        assert loaded.problems == []
        assert len(loaded.pipelines) == len(example["pipelines"])


@pytest.mark.parametrize(
    "template",
    [
        "s3://results/{interval_start:%Y/%m/%d/%H%M}/{pipeline}/",
        "s3://results/{interval_start:%Y%m%dT%H%M}-{dag_id}/",
        "results/{interval_start:%Y%m%dT%H}/{interval_start:%M}{pipeline}/",
    ],
)
def test_window_first_layouts_told_apart_by_the_id_are_accepted(
    pipeline: dict[str, Any], template: str
) -> None:
    many = [_named(pipeline, f"cam{i}", export__destination=template) for i in range(12)]
    for entry in many:
        entry["source"]["references_uri"] = "s3://private/{interval_start:%Y%m%dT%H%M}/{pipeline}.jsonl"

    ids, problems = parse(*many)

    assert problems == []
    assert len(ids) == 12
