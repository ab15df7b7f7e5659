"""The reusable spend steps, free of any one task: plan a window, reserve ceilings, account for a job.

- ``plan_window``: before anything is staged, the estimate for the window's chunks and whether it
  fits the run's allowance (``max_credits_per_run`` and what is left of the day and month budgets).
- ``reserve``: just before jobs start, one reservation record per chunk job run, each with the
  machine-seconds ceiling it may spend (``processingTimeoutSeconds``), re-checked after writing so
  that concurrent runs of a group cannot both take the last of a budget.
- ``account``: after a job ended, its measured machine time replaces its reservation.

A repair or a restart of one job uses the same steps with one chunk.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from include.roboflow_batch.jobs.machine_time import JobSpend
from include.roboflow_batch.spend.estimate import CostModel, Observation, cost_model
from include.roboflow_batch.spend.ledger import SpendLedger, current
from include.roboflow_batch.spend.limits import Limit, binding, ledger_window, period_limits, split
from include.roboflow_batch.spend.policy import SpendPolicy
from include.roboflow_batch.spend.records import LedgerEntry, RecordError, RecordKey, SpendRecord

#: How often a reservation that lost a race with another run's is tried again.
RESERVE_ATTEMPTS = 5
#: How long a reservation waits after writing before it lists the ledger again. Records are judged
#: in the order of their times, so every record stamped before this one must be visible by then:
#: the wait is this, or twice as long as the writes took if that is longer.
SETTLE_SECONDS = 1.0
# Credits below this are rounding, not spending.
_EPSILON = 1e-6


class OverBudgetError(Exception):
    """The run cannot start a job within its budgets; the message has the numbers and the fix."""


@dataclass(frozen=True)
class ChunkPlan:
    index: int
    job_id: str
    objects: int
    estimate_seconds: float
    ceiling_seconds: int | None = None


@dataclass(frozen=True)
class SpendPlan:
    """What a window is expected to cost and what it may cost (small: it goes to XCom)."""

    pipeline: str
    objects: int
    machine_type: str
    chunks: list[ChunkPlan]
    model: CostModel
    estimate_seconds: float
    estimate_credits: float
    limits: list[Limit]
    allowance_credits: float | None
    binding: str | None
    binding_setting: str | None
    over_budget: bool
    message: str

    @property
    def ceiling_seconds(self) -> int | None:
        ceilings = [chunk.ceiling_seconds for chunk in self.chunks]
        return None if not ceilings or None in ceilings else sum(c for c in ceilings if c is not None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "objects": self.objects,
            "machine_type": self.machine_type,
            "chunks": [asdict(chunk) for chunk in self.chunks],
            "estimate": {
                "machine_seconds": round(self.estimate_seconds, 3),
                "credits": round(self.estimate_credits, 6),
                "basis": self.model.basis,
                "jobs_learned_from": self.model.jobs,
                "seconds_per_object": round(self.model.per_object, 6),
                "seconds_per_job": round(self.model.per_job, 6),
                "model": self.model.describe(),
            },
            "ceiling_seconds": self.ceiling_seconds,
            "allowance_credits": None if self.allowance_credits is None else round(self.allowance_credits, 6),
            "binding": self.binding,
            "binding_setting": self.binding_setting,
            "limits": [limit.to_dict() for limit in self.limits],
            "over_budget": self.over_budget,
            "message": self.message,
        }


# -- the estimate ---------------------------------------------------------------------------------


def history(policy: SpendPolicy, ledger: SpendLedger, now: datetime) -> list[Observation]:
    """The pipeline's latest finished jobs of its media and machine type (this and last UTC month).

    Jobs a ceiling stopped are left out: they did not process all their objects.
    """
    this_month = datetime(now.year, now.month, 1, tzinfo=UTC)
    start = (this_month - timedelta(days=1)).replace(day=1)
    measured = [
        entry
        for entry in ledger.entries(start, now + timedelta(seconds=1))
        if entry.kind == "measured" and entry.key.pipeline == policy.pipeline_id
    ]
    observations: list[Observation] = []
    for entry in sorted(measured, key=lambda e: (e.at, e.name), reverse=True):
        if len(observations) >= policy.history_jobs:
            break
        try:
            record = ledger.read(entry)
        except (RecordError, FileNotFoundError):
            continue
        if (
            record.media_type == policy.media_type
            and record.machine_type == policy.machine_type
            and record.objects > 0
            and record.machine_seconds
            and not record.stopped_by_ceiling
        ):
            observations.append(Observation(record.objects, record.machine_seconds))
    return observations


def _model(policy: SpendPolicy, ledger: SpendLedger, now: datetime) -> CostModel:
    return cost_model(
        history(policy, ledger, now),
        policy.media_type,
        policy.machine_type,
        policy.cold_start_seconds_per_object,
    )


def _ceilings(policy: SpendPolicy, allowance: float | None, estimates: Sequence[float]) -> list[int | None]:
    """Each chunk's share of what ``allowance`` credits buy, never above the user's own timeout."""
    user = policy.processing_timeout_seconds
    if allowance is None:
        return [user] * len(estimates)
    shares = split(allowance, estimates)
    ceilings: list[int | None] = []
    for share in shares:
        seconds = policy.rates.seconds(share, policy.machine_type)
        ceilings.append(min(seconds, user) if user is not None else seconds)
    return ceilings


def _limits(
    policy: SpendPolicy, ledger: SpendLedger, now: datetime, run_spent: float = 0.0
) -> tuple[list[Limit], list[LedgerEntry]]:
    """The run's cap (``run_spent``: what the run holds already) and the period budgets, as they stand."""
    start, end = ledger_window(policy.scopes, now)
    entries = ledger.entries(start, end)
    limits = period_limits(policy.scopes, entries, now)
    if policy.max_credits_per_run is not None:
        cap = Limit("max_credits_per_run", "cost.max_credits_per_run", policy.max_credits_per_run, run_spent)
        limits.insert(0, cap)
    return limits, entries


def period_status(policy: SpendPolicy, ledger: SpendLedger, now: datetime | None = None) -> list[Limit]:
    """The day and month budgets as they stand (what is spent, what is left)."""
    return _limits(policy, ledger, now or datetime.now(UTC))[0]


def _fmt_seconds(seconds: float) -> str:
    return f"{seconds:,.0f} machine-seconds" if seconds >= 10 else f"{seconds:.2f} machine-seconds"


def plan_window(
    policy: SpendPolicy,
    ledger: SpendLedger,
    chunks: Sequence[tuple[int, str, int]],
    now: datetime | None = None,
) -> SpendPlan:
    """The estimate and the allowance for ``chunks`` (``(index, job id, objects)``), before staging."""
    now = now or datetime.now(UTC)
    model = _model(policy, ledger, now)
    estimates = [model.seconds(objects) for _, _, objects in chunks]
    total_seconds = sum(estimates)
    total_credits = policy.rates.credits(total_seconds, policy.machine_type)
    limits, _ = _limits(policy, ledger, now)
    bound = binding(limits)
    allowance = bound.remaining if bound is not None else None
    ceilings = _ceilings(policy, allowance, estimates)
    objects = sum(objects for _, _, objects in chunks)
    over = (
        allowance is not None
        and bool(chunks)
        and (total_credits > allowance + _EPSILON or any(c is not None and c < 1 for c in ceilings))
    )
    plans = [
        ChunkPlan(index, job_id, count, round(seconds, 3), ceiling)
        for (index, job_id, count), seconds, ceiling in zip(chunks, estimates, ceilings, strict=True)
    ]
    estimate_text = (
        f"{objects:,} {policy.media_type} estimated at {_fmt_seconds(total_seconds)} on "
        f"{policy.machine_type} = {total_credits:.4g} credits ({model.describe()})"
    )
    if over and bound is not None:
        message = (
            f"pipeline {policy.pipeline_id}: over budget: {estimate_text}, more than {bound.describe()}. "
            f"Raise {bound.setting} in astro.yaml, or set cost.on_over_budget: approve to have a "
            "person decide."
        )
    elif bound is not None:
        message = f"pipeline {policy.pipeline_id}: within budget: {estimate_text}; {bound.describe()}."
    else:
        message = (
            f"pipeline {policy.pipeline_id}: {estimate_text}; no budget set "
            "(cost.max_credits_per_run, cost.budget)."
        )
    return SpendPlan(
        pipeline=policy.pipeline_id,
        objects=objects,
        machine_type=policy.machine_type,
        chunks=plans,
        model=model,
        estimate_seconds=total_seconds,
        estimate_credits=total_credits,
        limits=limits,
        allowance_credits=allowance,
        binding=bound.name if bound else None,
        binding_setting=bound.setting if bound else None,
        over_budget=over,
        message=message,
    )


# -- reservations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reservation:
    index: int
    job_id: str
    run: int
    ceiling_seconds: int | None
    credits: float
    reused: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _runs_of(entries: Sequence[LedgerEntry], pipeline: str, job_id: str) -> list[LedgerEntry]:
    return [e for e in current(entries) if e.key.pipeline == pipeline and e.key.job_id == job_id]


def _fits(entries: Sequence[LedgerEntry], mine: set[str], policy: SpendPolicy, now: datetime) -> bool:
    """Whether every record of ``mine`` fits its periods' budgets when records are taken in time order."""
    for scope in policy.scopes:
        for period, budget in scope.periods(now):
            total = 0.0
            for entry in current(entries):
                if not period.contains(entry.at) or (
                    scope.pipeline is not None and entry.key.pipeline != scope.pipeline
                ):
                    continue
                total += entry.credits
                if entry.name in mine and total > budget + _EPSILON:
                    return False
    return True


def reserve(
    policy: SpendPolicy,
    ledger: SpendLedger,
    plan: SpendPlan,
    *,
    run_id: str | None = None,
    approved_credits: float | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    settle_seconds: float = SETTLE_SECONDS,
) -> list[Reservation]:
    """A reservation per chunk of ``plan``, each with its ceiling; raises ``OverBudgetError``.

    A chunk whose job run already holds a reservation (a retry of this step) keeps it. The run's
    allowance is the smallest of ``max_credits_per_run`` and what the day and month budgets have
    left, or ``approved_credits`` when a person approved more. After writing and a settling wait
    (``settle_seconds``, so that every record stamped earlier is visible), the ledger is listed
    again: records are taken in the order of their times, and a reservation that no longer fits
    (a concurrent run stamped its own first) is deleted and tried again with what is left. Every
    run judges the same order, so two runs never both keep the last of a budget.
    """
    for attempt in range(RESERVE_ATTEMPTS):
        moment = now()
        _, entries = _limits(policy, ledger, moment)
        kept: list[Reservation] = []
        todo: list[tuple[ChunkPlan, int]] = []
        for chunk in plan.chunks:
            runs = _runs_of(entries, policy.pipeline_id, chunk.job_id)
            pending = [e for e in runs if e.kind == "reserved"]
            if pending:
                entry = pending[-1]
                record = ledger.read(entry)
                kept.append(
                    Reservation(
                        chunk.index, chunk.job_id, entry.key.run, record.ceiling_seconds, entry.credits, True
                    )
                )
            else:
                todo.append((chunk, max((e.key.run for e in runs), default=-1) + 1))
        if not todo:
            return sorted(kept, key=lambda r: r.index)
        used = sum(r.credits for r in kept)
        limits, entries = _limits(policy, ledger, moment, run_spent=used)
        if approved_credits is not None:
            allowance: float | None = max(approved_credits - used, 0.0)
            bound_name, setting = f"the approved {approved_credits:g} credits", "the approval"
        else:
            bound = binding(limits)
            allowance = None if bound is None else bound.remaining
            bound_name = bound.describe() if bound else ""
            setting = bound.setting if bound else ""
        ceilings = _ceilings(policy, allowance, [chunk.estimate_seconds for chunk, _ in todo])
        if any(c is not None and c < 1 for c in ceilings):
            raise OverBudgetError(
                f"pipeline {policy.pipeline_id}: no machine time left to start {len(todo)} job(s): "
                f"{bound_name}. Raise {setting} in astro.yaml or wait for the next period."
            )
        written: list[tuple[LedgerEntry, Reservation]] = []
        moment, writing = now(), time.monotonic()
        for (chunk, run), ceiling in zip(todo, ceilings, strict=True):
            credits = (
                policy.rates.credits(ceiling, policy.machine_type)
                if ceiling is not None
                else policy.rates.credits(chunk.estimate_seconds, policy.machine_type)
            )
            record = SpendRecord(
                at=moment,
                key=RecordKey(policy.pipeline_id, chunk.job_id, run),
                kind="reserved",
                credits=credits,
                machine_type=policy.machine_type,
                media_type=policy.media_type,
                objects=chunk.objects,
                ceiling_seconds=ceiling,
                estimate_seconds=chunk.estimate_seconds,
                group=policy.group.name if policy.group else None,
                run_id=run_id,
                approved_credits=approved_credits,
            )
            entry = ledger.write(record)
            written.append((entry, Reservation(chunk.index, chunk.job_id, run, ceiling, entry.credits)))
        if approved_credits is not None or not any(
            s.day is not None or s.month is not None for s in policy.scopes
        ):
            return sorted(kept + [r for _, r in written], key=lambda r: r.index)
        sleep(max(settle_seconds, 2 * (time.monotonic() - writing)))
        start, end = ledger_window(policy.scopes, moment)
        if _fits(ledger.entries(start, end), {e.name for e, _ in written}, policy, moment):
            return sorted(kept + [r for _, r in written], key=lambda r: r.index)
        for entry, _ in written:
            ledger.delete(entry)
        sleep(random.uniform(0.05, 0.3) * (attempt + 1))
    raise OverBudgetError(
        f"pipeline {policy.pipeline_id}: other runs kept taking the budget while this one reserved it "
        f"({RESERVE_ATTEMPTS} tries); try again, or raise the budget."
    )


# -- accounting ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accounting:
    job_id: str
    run: int
    machine_seconds: float
    credits: float
    ceiling_seconds: int | None
    estimate_seconds: float | None
    stopped_by_ceiling: bool
    note: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "machine_seconds": round(self.machine_seconds, 3),
            "credits": round(self.credits, 6),
        }


def _run_identity(spend: JobSpend) -> str:
    """What tells one run of a job from the next: its restarts and when its first stage started."""
    job = spend.job
    return f"{job.created_at.isoformat()}|{len(job.restart_parameters_override)}"


def account(
    policy: SpendPolicy,
    ledger: SpendLedger,
    job_id: str,
    spend: JobSpend | None,
    *,
    objects: int,
    run_id: str | None = None,
    now: datetime | None = None,
) -> Accounting:
    """Replace the job's pending reservation with what it measured (``spend`` None: never created).

    A job re-attached to (it already finished, or is the run measured before) spends nothing new:
    its reservation is released with a measurement of zero.
    """
    now = now or datetime.now(UTC)
    this_month = datetime(now.year, now.month, 1, tzinfo=UTC)
    start = (this_month - timedelta(days=1)).replace(day=1)
    entries = ledger.entries(start, now + timedelta(days=1))
    runs = _runs_of(entries, policy.pipeline_id, job_id)
    pending = [e for e in runs if e.kind == "reserved"]
    measured = [e for e in runs if e.kind == "measured"]
    reservation = ledger.read(pending[-1]) if pending else None
    identity = _run_identity(spend) if spend is not None else None
    previous = {ledger.read(e).details.get("run_identity") for e in measured} if identity else set()
    if reservation is None and identity in previous:
        # Measured already (a retry of this step): nothing to replace.
        entry = measured[-1]
        record = ledger.read(entry)
        return Accounting(
            job_id,
            entry.key.run,
            record.machine_seconds or 0.0,
            entry.credits,
            record.ceiling_seconds,
            record.estimate_seconds,
            record.stopped_by_ceiling,
            "already accounted",
        )
    seconds, stopped, note = 0.0, False, "the job was never created: its reservation is released"
    details: dict[str, Any] = {}
    if spend is not None:
        if identity in previous:
            note = "re-attached to a job run already accounted for: nothing new spent"
        else:
            seconds, stopped = spend.machine_time.seconds, spend.stopped_by_ceiling
            note = "measured from the job's stages, tasks and logs"
            details = {"run_identity": identity, **spend.machine_time.to_dict()}
    key = (
        reservation.key
        if reservation is not None
        else RecordKey(policy.pipeline_id, job_id, max((e.key.run for e in runs), default=-1) + 1)
    )
    record = SpendRecord(
        at=reservation.at if reservation is not None else now,
        key=key,
        kind="measured",
        credits=policy.rates.credits(seconds, policy.machine_type),
        machine_type=policy.machine_type,
        media_type=policy.media_type,
        objects=objects,
        ceiling_seconds=reservation.ceiling_seconds if reservation is not None else None,
        estimate_seconds=reservation.estimate_seconds if reservation is not None else None,
        machine_seconds=seconds,
        stopped_by_ceiling=stopped,
        group=policy.group.name if policy.group else None,
        run_id=run_id,
        approved_credits=reservation.approved_credits if reservation is not None else None,
        details=details,
    )
    ledger.write(record)
    if pending:
        for entry in pending:
            ledger.delete(entry)
    return Accounting(
        job_id,
        key.run,
        seconds,
        record.credits,
        record.ceiling_seconds,
        record.estimate_seconds,
        stopped,
        note,
        details,
    )


def ceiling_stop_message(
    pipeline: str, gate: dict[str, Any], *, processed: int, total: int, manifest_uri: str
) -> str:
    """What a run whose jobs a ceiling stopped says: the budget, what was processed, how to go on."""
    plan = gate.get("plan") or {}
    ceilings = [c for c in gate.get("ceilings") or [] if c]
    if gate.get("decision") == "approved":
        budget, setting = f"the {gate.get('approved_credits')} credits approved for this run", "the approval"
    else:
        budget = str(plan.get("binding") or "job.processing_timeout")
        setting = str(plan.get("binding_setting") or "job.processing_timeout")
        limits = {limit["name"]: limit for limit in plan.get("limits") or []}
        if budget in limits:
            limit = limits[budget]
            budget = f"{budget} ({limit['budget']:g} credits, {limit['remaining']:.4g} left when it started)"
    return (
        f"pipeline {pipeline}: Roboflow stopped this run's job(s) at the machine-time ceiling the budget "
        f"gave them ({sum(ceilings):,} machine-seconds, processingTimeoutSeconds, from {budget}). "
        f"{processed:,} of {total:,} objects were processed and exported; the other {total - processed:,} "
        f"are listed in {manifest_uri} as stopped-by-ceiling. To process them, raise {setting} in "
        "astro.yaml (or let a person approve more with cost.on_over_budget: approve) and re-run this window."
    )
