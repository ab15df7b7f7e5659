"""astro.yaml's cost, preflight and budget_groups blocks: defaults, merging, and named mistakes."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from include.roboflow_batch.pipeline.loader import parse_pipelines
from include.roboflow_batch.pipeline.spend_config import spend_policy
from include.roboflow_batch.spend.policy import SpendPolicy

BASE = Path("/project/astro.yaml")


def load(*pipelines: dict[str, Any], groups: Any = None, **defaults: Any) -> Any:
    document: dict[str, Any] = {"defaults": defaults, "pipelines": list(pipelines)}
    if groups is not None:
        document["budget_groups"] = groups
    return parse_pipelines(document, BASE)


def with_cost(pipeline: dict[str, Any], **cost: Any) -> dict[str, Any]:
    entry = copy.deepcopy(pipeline)
    entry["cost"] = cost
    return entry


def test_defaults_are_the_documented_assumptions_and_no_budget(pipeline: dict[str, Any]) -> None:
    (config,) = load(pipeline).pipelines
    cost = config.cost
    assert (cost.rates.cpu, cost.rates.gpu) == (1.0, 4.0)
    assert cost.max_credits_per_run is None and cost.budget.day is None and cost.budget.month is None
    assert cost.on_over_budget == "fail" and cost.approval_timeout == timedelta(hours=4)
    assert config.preflight.enabled and config.preflight.private_endpoints == "fail"
    policy = SpendPolicy.from_dict(spend_policy(config, {}, BASE.parent))
    # In the pipeline's state location (beside the references files), folder spend/.
    assert policy.ledger_uri == "s3://private/roboflow-state/demo_s3/spend/" and not policy.has_budget


def test_defaults_merge_into_the_budget_key_by_key(pipeline: dict[str, Any]) -> None:
    pipeline["cost"] = {"budget": {"month": 300}, "rates": {"gpu": 3.5}}
    loaded = load(pipeline, cost={"budget": {"day": 20}, "rates": {"cpu": 0.8}, "max_credits_per_run": 5})
    assert loaded.problems == []
    cost = loaded.pipelines[0].cost
    assert (cost.budget.day, cost.budget.month) == (20, 300)
    assert (cost.rates.cpu, cost.rates.gpu) == (0.8, 3.5)
    assert cost.max_credits_per_run == 5


@pytest.mark.parametrize(
    ("cost", "problem"),
    [
        ({"max_credits_per_run": 0}, "cost.max_credits_per_run: Input should be greater than 0"),
        ({"budget": {"day": -1}}, "cost.budget.day: Input should be greater than 0"),
        ({"budget": {"day": 50, "month": 20}}, "day (50) is larger than month (20)"),
        ({"budget": {"dya": 5}}, "cost.budget.dya: unknown field; did you mean 'day'?"),
        ({"on_over_budget": "ask"}, "cost.on_over_budget"),
        ({"rates": {"tpu": 2}}, "cost.rates.tpu: unknown field"),
        ({"approval_timeout": "10s"}, "at least a minute"),
        ({"max_credit_per_run": 5}, "did you mean 'max_credits_per_run'?"),
    ],
)
def test_cost_mistakes_name_the_pipeline_and_the_field(
    pipeline: dict[str, Any], cost: dict[str, Any], problem: str
) -> None:
    problems = load(with_cost(pipeline, **cost)).problems
    assert any(p.startswith("pipelines[demo_s3].cost") and problem in p for p in problems), problems


def test_groups_share_a_ledger_and_unknown_groups_are_named(pipeline: dict[str, Any]) -> None:
    groups = {
        "vision": {"day": 100, "month": 2000, "timezone": "Europe/Berlin", "ledger_uri": "s3://ops/spend/"}
    }
    second = with_cost(pipeline, group="vision")
    second["id"] = "docks"
    second["source"]["prefix"] = "docks/"
    second["source"]["references_uri"] = "s3://private/docks/{interval_start:%Y%m%dT%H%M}.jsonl"
    second["export"]["destination"] = "s3://results/docks/{interval_start:%Y%m%dT%H%M}/"
    loaded = load(with_cost(pipeline, group="vision"), second, groups=groups)
    assert loaded.problems == []
    policies = [
        SpendPolicy.from_dict(spend_policy(p, loaded.budget_groups, BASE.parent)) for p in loaded.pipelines
    ]
    assert {p.ledger_uri for p in policies} == {"s3://ops/spend/"}
    assert policies[0].group is not None and policies[0].group.timezone == "Europe/Berlin"
    assert policies[0].scopes[1].setting == "budget_groups.vision"

    unknown = load(with_cost(pipeline, group="visoin"), groups=groups).problems
    assert (
        "pipelines[demo_s3].cost.group: no budget group 'visoin' under budget_groups (defined: vision)"
        in unknown
    )


@pytest.mark.parametrize(
    ("groups", "problem"),
    [
        ({"vision": {"day": 5}}, "budget_groups.vision.ledger_uri: required field is missing"),
        (
            {"vision": {"ledger_uri": "s3://x/", "timezone": "Mars/Olympus"}},
            "unknown time zone 'Mars/Olympus'",
        ),
        ({"Vision!": {"ledger_uri": "s3://x/"}}, "budget_groups.Vision!: a group name"),
        ({"vision": {"ledger_uri": "s3://x/", "weekly": 3}}, "budget_groups.vision.weekly: unknown field"),
        ({"vision": {"ledger_uri": "s3://x/{pipeline}/"}}, "no placeholders"),
        ({"vision": {"ledger_uri": "http://host/x"}}, "unsupported URI scheme"),
        ([1, 2], "budget_groups: must be a mapping"),
    ],
)
def test_group_mistakes_are_named(pipeline: dict[str, Any], groups: Any, problem: str) -> None:
    problems = load(pipeline, groups=groups).problems
    assert any(problem in p for p in problems), problems


def test_a_local_source_keeps_its_ledger_in_its_state_directory(pipeline: dict[str, Any]) -> None:
    pipeline["source"] = {"kind": "local", "directory": "/data/in", "state_directory": "state"}
    pipeline["job"] = {"machine_type": "gpu", "processing_timeout": "2h"}
    (config,) = load(pipeline).pipelines
    policy = SpendPolicy.from_dict(spend_policy(config, {}, BASE.parent))
    assert policy.ledger_uri == "file:///project/state/demo_s3/spend/"
    assert policy.machine_type == "gpu" and policy.processing_timeout_seconds == 7200


def test_preflight_settings_are_checked(pipeline: dict[str, Any]) -> None:
    pipeline["preflight"] = {"private_endpoints": "ignore", "sample_url": 2}
    problems = load(pipeline).problems
    assert any("preflight.private_endpoints" in p for p in problems)
    assert any("preflight.sample_url: unknown field; did you mean 'sample_urls'?" in p for p in problems)
