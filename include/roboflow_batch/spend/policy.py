"""A pipeline's spend settings as the tasks receive them: a plain dict (it is part of the serialized
DAG), read back into ``SpendPolicy``. ``pipeline/`` builds it from astro.yaml's ``cost`` block."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from include.roboflow_batch.spend.estimate import DEFAULT_HISTORY_JOBS
from include.roboflow_batch.spend.ledger import SpendLedger
from include.roboflow_batch.spend.limits import BudgetScope
from include.roboflow_batch.spend.rates import DEFAULT_MACHINE, Rates


@dataclass(frozen=True)
class GroupBudget:
    name: str
    day: float | None = None
    month: float | None = None
    timezone: str = "UTC"


@dataclass(frozen=True)
class SpendPolicy:
    pipeline_id: str
    media_type: str
    ledger_uri: str
    ledger_conn_id: str | None = None
    machine_type: str = DEFAULT_MACHINE
    rates: Rates = field(default_factory=Rates)
    max_credits_per_run: float | None = None
    day: float | None = None
    month: float | None = None
    timezone: str = "UTC"
    group: GroupBudget | None = None
    on_over_budget: str = "fail"
    approval_timeout_seconds: float = 4 * 3600.0
    # The user's own job.processing_timeout: no ceiling is ever larger.
    processing_timeout_seconds: int | None = None
    cold_start_seconds_per_object: float | None = None
    history_jobs: int = DEFAULT_HISTORY_JOBS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpendPolicy:
        values = dict(data)
        values["rates"] = Rates(**values.get("rates") or {})
        group = values.get("group")
        values["group"] = GroupBudget(**group) if group else None
        return cls(**values)

    @property
    def scopes(self) -> list[BudgetScope]:
        scopes = [
            BudgetScope(
                f"pipeline {self.pipeline_id}",
                "cost.budget",
                self.day,
                self.month,
                self.timezone,
                self.pipeline_id,
            )
        ]
        if self.group is not None:
            group = self.group
            scopes.append(
                BudgetScope(
                    f"group {group.name}",
                    f"budget_groups.{group.name}",
                    group.day,
                    group.month,
                    group.timezone,
                    None,
                )
            )
        return scopes

    def ledger(self) -> SpendLedger:
        """The ledger at ``ledger_uri``, through ``ledger_conn_id``."""
        from airflow.sdk import ObjectStoragePath

        return SpendLedger(ObjectStoragePath(self.ledger_uri, conn_id=self.ledger_conn_id))

    @property
    def has_budget(self) -> bool:
        return self.max_credits_per_run is not None or any(
            scope.day is not None or scope.month is not None for scope in self.scopes
        )
