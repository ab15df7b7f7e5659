"""astro.yaml's spend settings: ``cost`` and ``preflight`` per pipeline (inherited from ``defaults``),
``budget_groups`` at the top level; and what the tasks receive from them (``spend_policy``).

Credits are Roboflow credits; rates are credits per machine-hour (docs/costs.md: the defaults are
assumptions until set from the workspace's own plan).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel as _BaseModel
from pydantic import BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator, model_validator

from include.roboflow_batch.durations import format_duration, parse_duration
from include.roboflow_batch.spend.estimate import DEFAULT_HISTORY_JOBS
from include.roboflow_batch.spend.rates import DEFAULT_CREDITS_PER_HOUR

if TYPE_CHECKING:
    from include.roboflow_batch.pipeline.schema import PipelineConfig
    from include.roboflow_batch.spend.policy import SpendPolicy

GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
#: The ledger's folder inside the pipeline's state location (a group's ledger is its own place).
LEDGER_FOLDER = "spend"
_Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]
Credits = Annotated[float, Field(gt=0)]


class _Strict(_BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _no_placeholder(value: str) -> str:
    if "{" in value or "}" in value:
        raise ValueError(
            f"a ledger location is one fixed place shared by every run; no placeholders: {value!r}"
        )
    if "://" in value and not value.startswith(("s3://", "gs://", "file://")):
        raise ValueError(f"unsupported URI scheme in {value!r}; use s3://, gs://, file:// or a path")
    return value


class RatesConfig(_Strict):
    """Credits per machine-hour of each machine type."""

    cpu: Credits = DEFAULT_CREDITS_PER_HOUR["cpu"]
    gpu: Credits = DEFAULT_CREDITS_PER_HOUR["gpu"]


class BudgetConfig(_Strict):
    """Credits per calendar day and per calendar month (the pipeline's time zone); None: unlimited."""

    day: Credits | None = None
    month: Credits | None = None

    @model_validator(mode="after")
    def _day_within_month(self) -> BudgetConfig:
        if self.day is not None and self.month is not None and self.day > self.month:
            raise ValueError(
                f"day ({self.day:g}) is larger than month ({self.month:g}); one of them is a typo"
            )
        return self


class CostConfig(_Strict):
    rates: RatesConfig = Field(default_factory=RatesConfig)
    max_credits_per_run: Credits | None = None
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    group: str | None = Field(
        default=None, description="A name under budget_groups: a budget shared by pipelines."
    )
    on_over_budget: Literal["fail", "approve"] = "fail"
    approval_timeout: _Duration = Field(default=timedelta(hours=4))
    cold_start_seconds_per_object: Credits | None = None
    history_jobs: int = Field(default=DEFAULT_HISTORY_JOBS, ge=1, le=200)

    @field_validator("approval_timeout")
    @classmethod
    def _approval_timeout(cls, value: timedelta) -> timedelta:
        if value < timedelta(minutes=1):
            raise ValueError(f"give a person at least a minute to answer, got {format_duration(value)}")
        return value


class PreflightConfig(_Strict):
    """Checks at the start of every run (and of a dry run)."""

    enabled: bool = True
    sample_urls: int = Field(default=3, ge=0, le=20)
    # Roboflow cannot fetch a signed URL or reach a webhook on a private address. The local stand-ins
    # are private by nature: the dev stack says "warn" so its demos run.
    private_endpoints: Literal["fail", "warn"] = "fail"


class BudgetGroupConfig(BudgetConfig):
    """A budget shared by every pipeline that names the group (one workspace, one bill)."""

    timezone: str = "UTC"
    ledger_uri: str = Field(min_length=1, description="Where every member pipeline writes its records.")
    ledger_conn_id: str | None = None

    @field_validator("ledger_uri")
    @classmethod
    def _ledger(cls, value: str) -> str:
        return _no_placeholder(value)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from include.roboflow_batch.pipeline.schema import check_timezone

        return check_timezone(value)


def parse_groups(raw: object) -> tuple[dict[str, BudgetGroupConfig], list[str]]:
    """The ``budget_groups`` block and a problem line per mistake in it."""
    from pydantic import ValidationError

    from include.roboflow_batch.pipeline.config_errors import describe_validation_error

    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        return {}, ["budget_groups: must be a mapping of group name to its budget"]
    groups: dict[str, BudgetGroupConfig] = {}
    problems: list[str] = []
    for name, body in raw.items():
        if not isinstance(name, str) or not GROUP_NAME.match(name):
            problems.append(
                f"budget_groups.{name}: a group name is 1-48 of a-z 0-9 _ -, starting with a letter or digit"
            )
            continue
        try:
            groups[name] = BudgetGroupConfig.model_validate(body if body is not None else {})
        except ValidationError as exc:
            problems.extend(describe_validation_error(f"budget_groups.{name}", BudgetGroupConfig, exc))
    return groups, problems


def group_problems(pipeline: PipelineConfig, groups: dict[str, BudgetGroupConfig]) -> list[tuple[str, str]]:
    """``(field, message)`` for a pipeline whose ``cost.group`` names no group of ``budget_groups``."""
    name = pipeline.cost.group
    if name is None:
        return []
    if name not in groups:
        known = ", ".join(sorted(groups)) or "none"
        return [("cost.group", f"no budget group {name!r} under budget_groups (defined: {known})")]
    return []


def spend_policy(
    pipeline: PipelineConfig, groups: dict[str, BudgetGroupConfig], base_dir: Path
) -> dict[str, Any]:
    """The ``SpendPolicy`` (as a dict) the pipeline's tasks receive."""
    from include.roboflow_batch.pipeline.run_window import as_uri
    from include.roboflow_batch.pipeline.state_location import state_location
    from include.roboflow_batch.spend.policy import GroupBudget
    from include.roboflow_batch.spend.policy import SpendPolicy as Policy
    from include.roboflow_batch.spend.rates import Rates

    cost = pipeline.cost
    group = groups.get(cost.group) if cost.group else None
    if group is not None:
        ledger, conn_id = as_uri(group.ledger_uri, base_dir), group.ledger_conn_id
    else:
        state = state_location(pipeline, base_dir)
        ledger, conn_id = state.folder(LEDGER_FOLDER), state.conn_id
    timeout = pipeline.job.processing_timeout
    policy: SpendPolicy = Policy(
        pipeline_id=pipeline.id,
        media_type=pipeline.source.media,
        ledger_uri=ledger,
        ledger_conn_id=conn_id,
        machine_type=pipeline.job.machine_type or "cpu",
        rates=Rates(cpu=cost.rates.cpu, gpu=cost.rates.gpu),
        max_credits_per_run=cost.max_credits_per_run,
        day=cost.budget.day,
        month=cost.budget.month,
        timezone=pipeline.timezone,
        group=GroupBudget(cost.group, group.day, group.month, group.timezone)
        if group and cost.group
        else None,
        on_over_budget=cost.on_over_budget,
        approval_timeout_seconds=cost.approval_timeout.total_seconds(),
        processing_timeout_seconds=int(timeout.total_seconds()) if timeout is not None else None,
        cold_start_seconds_per_object=cost.cold_start_seconds_per_object,
        history_jobs=cost.history_jobs,
    )
    return policy.to_dict()
