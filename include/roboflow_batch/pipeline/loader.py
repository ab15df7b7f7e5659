"""Read astro.yaml: merge ``defaults`` into each pipeline and validate each pipeline on its own.

A broken pipeline never hides the others: ``load_pipelines`` returns the valid ones together with
one readable problem line per mistake. Only a file that cannot be read at all raises.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from include.roboflow_batch.pipeline.config_errors import (
    PipelineConfigError,
    describe_validation_error,
    unknown_keys,
)
from include.roboflow_batch.pipeline.locations import collision_problems, interval_problems
from include.roboflow_batch.pipeline.schema import (
    ExportConfig,
    JobOptions,
    PipelineConfig,
    PipelineDefaults,
    ReadinessConfig,
    WorkflowConfig,
)
from include.roboflow_batch.pipeline.spend_config import (
    BudgetGroupConfig,
    CostConfig,
    PreflightConfig,
    group_problems,
    parse_groups,
)

PIPELINES_FILE_ENV = "ROBOFLOW_PIPELINES_FILE"
PROJECT_ROOT = Path(__file__).resolve().parents[3]
TOP_LEVEL_KEYS = ("defaults", "pipelines", "budget_groups")
NESTED_DEFAULT_BLOCKS: dict[str, type[BaseModel]] = {
    "job": JobOptions,
    "readiness": ReadinessConfig,
    "export": ExportConfig,
    "workflow": WorkflowConfig,
    "cost": CostConfig,
    "preflight": PreflightConfig,
}
# Blocks inside a default block that merge key by key too (``cost.budget.day`` from defaults,
# ``cost.budget.month`` from the pipeline).
NESTED_DEFAULT_SUBBLOCKS: dict[str, tuple[str, ...]] = {"cost": ("rates", "budget")}


@dataclass(frozen=True)
class LoadedPipelines:
    """The valid pipelines of one astro.yaml and the problems of the others."""

    path: Path
    pipelines: list[PipelineConfig] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    budget_groups: dict[str, BudgetGroupConfig] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        """Relative directories and destinations in the file are relative to this folder."""
        return self.path.parent

    def raise_for_problems(self) -> None:
        if self.problems:
            raise PipelineConfigError(self.path, self.problems)


def pipelines_file() -> Path:
    """``$ROBOFLOW_PIPELINES_FILE`` if set, else ``astro.yaml`` at the project root."""
    configured = os.environ.get(PIPELINES_FILE_ENV)
    return Path(configured).expanduser().resolve() if configured else PROJECT_ROOT / "astro.yaml"


def _merge(defaults: dict[str, Any], pipeline: dict[str, Any]) -> dict[str, Any]:
    # An explicit null in defaults (``schedule: null``) is a value: it passed validation there.
    merged = dict(defaults)
    for key, value in pipeline.items():
        if key in NESTED_DEFAULT_BLOCKS and isinstance(value, dict) and isinstance(merged.get(key), dict):
            block = {**merged[key], **value}
            for sub in NESTED_DEFAULT_SUBBLOCKS.get(key, ()):
                inherited, own = merged[key].get(sub), value.get(sub)
                if isinstance(inherited, dict) and isinstance(own, dict):
                    block[sub] = {**inherited, **own}
            merged[key] = block
        else:
            merged[key] = value
    return merged


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise PipelineConfigError(
            path, [f"file not found (set {PIPELINES_FILE_ENV} to use another file)"]
        ) from None
    except OSError as exc:
        raise PipelineConfigError(path, [f"cannot read the file: {exc.strerror}"]) from None
    try:
        # The C loader (libyaml) parses a 50-pipeline file about ten times faster.
        document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise PipelineConfigError(path, [f"not valid YAML: {exc}"]) from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise PipelineConfigError(path, ["the top level must be a mapping with 'defaults' and 'pipelines'"])
    return document


def _load_defaults(raw: object, problems: list[str]) -> dict[str, Any] | None:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append("defaults: must be a mapping")
        return None
    try:
        PipelineDefaults.model_validate(raw)
    except ValidationError as exc:
        problems.extend(describe_validation_error("defaults", PipelineDefaults, exc))
        return None
    errors_before = len(problems)
    for block, model in NESTED_DEFAULT_BLOCKS.items():
        values = raw.get(block) or {}
        problems.extend(unknown_keys(f"defaults.{block}", list(values), list(model.model_fields)))
    return raw if len(problems) == errors_before else None


def parse_pipelines(document: dict[str, Any], path: Path) -> LoadedPipelines:
    """Validate an already-parsed astro.yaml document."""
    problems = unknown_keys("astro.yaml", list(document), TOP_LEVEL_KEYS)
    problems = [p.replace("astro.yaml.", "", 1) for p in problems]
    defaults = _load_defaults(document.get("defaults"), problems)
    groups, group_errors = parse_groups(document.get("budget_groups"))
    problems.extend(group_errors)
    raw_pipelines = document.get("pipelines")
    if raw_pipelines is None:
        raw_pipelines = []
    if not isinstance(raw_pipelines, list):
        problems.append("pipelines: must be a list of pipelines, each with an 'id'")
        raw_pipelines = []
    elif not raw_pipelines:
        problems.append(
            "pipelines: no pipeline defined; add at least one under 'pipelines' (see docs/astro-yaml.md)"
        )

    pipelines: list[PipelineConfig] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_pipelines):
        if not isinstance(raw, dict):
            problems.append(
                f"pipelines[{index}]: must be a mapping with 'id', 'source', 'workflow', 'export'"
            )
            continue
        pipeline_id = raw.get("id")
        label = (
            f"pipelines[{pipeline_id}]"
            if isinstance(pipeline_id, str) and pipeline_id
            else f"pipelines[{index}]"
        )
        if isinstance(pipeline_id, str) and pipeline_id in seen:
            problems.append(f"{label}.id: duplicate id (first used by pipeline #{seen[pipeline_id] + 1})")
            continue
        if isinstance(pipeline_id, str):
            seen[pipeline_id] = index
        if defaults is None:
            continue  # already reported under defaults
        try:
            config = PipelineConfig.model_validate(_merge(defaults, raw))
        except ValidationError as exc:
            problems.extend(describe_validation_error(label, PipelineConfig, exc))
            continue
        own = [
            *interval_problems(config, path.parent),
            *group_problems(config, groups),
        ]
        problems.extend(f"{label}.{field}: {message}" for field, message in own)
        if not own:
            pipelines.append(config)
    clashes = collision_problems(pipelines, path.parent)
    problems.extend(f"pipelines[{pid}].{field}: {message}" for pid, field, message in clashes)
    refused = {pid for pid, _, _ in clashes}
    pipelines = [config for config in pipelines if config.id not in refused]
    return LoadedPipelines(path=path, pipelines=pipelines, problems=problems, budget_groups=groups)


def load_pipelines(path: Path | str | None = None) -> LoadedPipelines:
    """Read and validate astro.yaml (``path``, else ``pipelines_file()``)."""
    resolved = Path(path).resolve() if path is not None else pipelines_file()
    return parse_pipelines(_read_yaml(resolved), resolved)
