"""Budgets, what is left of them, and the machine time that buys.

A run may spend the smallest of: ``max_credits_per_run``, what is left of the pipeline's day and
month budgets, and what is left of its group's (every pipeline of a group writes to the group's
ledger, so the group's totals hold all of them). What is spent in a period is every job run of the
period as the ledger has it now: measured when the job finished, else the reservation it holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from include.roboflow_batch.spend.ledger import current
from include.roboflow_batch.spend.periods import Period, PeriodKind, period_of
from include.roboflow_batch.spend.records import LedgerEntry

PERIOD_KINDS: tuple[PeriodKind, ...] = ("day", "month")


@dataclass(frozen=True)
class BudgetScope:
    """The day and month budgets (credits, None: unlimited) of a pipeline or of a group."""

    label: str  # "pipeline cameras" or "group vision"
    setting: str  # where astro.yaml sets them: "cost.budget" or "budget_groups.vision"
    day: float | None
    month: float | None
    timezone: str
    # Whose records count: the pipeline's own, or (None) every record of the group's ledger.
    pipeline: str | None

    def periods(self, now: datetime) -> list[tuple[Period, float]]:
        budgets = {"day": self.day, "month": self.month}
        return [
            (period_of(kind, now, self.timezone), amount)
            for kind in PERIOD_KINDS
            if (amount := budgets[kind]) is not None
        ]


@dataclass(frozen=True)
class Limit:
    """One bound on a run's spending, as it stands."""

    name: str
    setting: str
    budget: float
    spent: float
    period: str | None = None

    @property
    def remaining(self) -> float:
        return max(self.budget - self.spent, 0.0)

    def describe(self) -> str:
        return (
            f"{self.name}: {self.budget:g} credits, {self.spent:.4g} spent, {self.remaining:.4g} left"
            if self.period
            else f"{self.name}: {self.budget:g} credits"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "remaining": round(self.remaining, 6), "spent": round(self.spent, 6)}


def spent_in(period: Period, entries: Sequence[LedgerEntry], pipeline: str | None) -> float:
    return sum(
        entry.credits
        for entry in current(entries)
        if period.contains(entry.at) and (pipeline is None or entry.key.pipeline == pipeline)
    )


def period_limits(
    scopes: Sequence[BudgetScope], entries: Sequence[LedgerEntry], now: datetime
) -> list[Limit]:
    """The day and month limits of every scope, with what the ledger says is spent."""
    limits = []
    for scope in scopes:
        for period, budget in scope.periods(now):
            limits.append(
                Limit(
                    name=f"{scope.label} {period.describe()} budget",
                    setting=f"{scope.setting}.{period.kind}",
                    budget=budget,
                    spent=spent_in(period, entries, scope.pipeline),
                    period=period.describe(),
                )
            )
    return limits


def ledger_window(scopes: Sequence[BudgetScope], now: datetime) -> tuple[datetime, datetime]:
    """From the start of the earliest month any scope looks at to the end of the latest one."""
    months = [period_of("month", now, scope.timezone) for scope in scopes] or [period_of("month", now, "UTC")]
    return min(p.start for p in months), max(p.end for p in months)


def binding(limits: Sequence[Limit]) -> Limit | None:
    """The limit with the least left (None: nothing bounds the run)."""
    return min(limits, key=lambda limit: limit.remaining) if limits else None


def split(total: float, weights: Sequence[float]) -> list[float]:
    """``total`` shared in proportion to ``weights`` (equally when they are all zero)."""
    if not weights:
        return []
    whole = sum(weights)
    if whole <= 0:
        return [total / len(weights)] * len(weights)
    return [total * weight / whole for weight in weights]
