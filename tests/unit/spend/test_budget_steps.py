"""Plan, reserve and account against day/month budgets of pipelines and groups, in a real folder."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from include.roboflow_batch.spend.ledger import SpendLedger, current
from include.roboflow_batch.spend.policy import SpendPolicy
from include.roboflow_batch.spend.records import RecordKey, SpendRecord, parse_name
from include.roboflow_batch.spend.steps import OverBudgetError, Reservation, account, plan_window, reserve
from tests.unit.spend.conftest import group, policy

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def measured(
    ledger: SpendLedger, pipeline: str, job: str, seconds: float, objects: int, at: datetime = NOW
) -> None:
    ledger.write(
        SpendRecord(
            at=at,
            key=RecordKey(pipeline, job, 0),
            kind="measured",
            credits=seconds,  # one credit per second in these tests
            machine_type="cpu",
            media_type="images",
            objects=objects,
            machine_seconds=seconds,
        )
    )


def reserve_one(
    spend: SpendPolicy, ledger: SpendLedger, job_id: str, objects: int, at: datetime = NOW
) -> list[Reservation]:
    """Plan a window of one job and reserve it at ``at`` (no settling wait: one writer)."""
    plan = plan_window(spend, ledger, [(0, job_id, objects)], now=NOW)
    return reserve(spend, ledger, plan, now=lambda: at, settle_seconds=0.0)


def test_a_window_over_its_run_budget_is_refused_with_the_numbers(ledger: SpendLedger) -> None:
    plan = plan_window(policy(max_credits_per_run=50.0), ledger, [(0, "job-a", 80)], now=NOW)
    assert plan.over_budget
    assert plan.estimate_seconds == 80.0 and plan.estimate_credits == 80.0
    assert "80 images" in plan.message and "80 credits" in plan.message
    assert "max_credits_per_run: 50 credits" in plan.message
    assert "cost.max_credits_per_run" in plan.message and "on_over_budget: approve" in plan.message
    within = plan_window(policy(max_credits_per_run=50.0), ledger, [(0, "job-a", 40)], now=NOW)
    assert not within.over_budget and within.chunks[0].ceiling_seconds == 50


def test_the_day_budget_counts_what_the_pipeline_spent_today_only(ledger: SpendLedger) -> None:
    measured(ledger, "cams", "old", 500.0, 500, at=NOW - timedelta(days=1))
    measured(ledger, "cams", "today", 70.0, 70, at=NOW - timedelta(hours=1))
    measured(ledger, "other", "theirs", 900.0, 900, at=NOW - timedelta(hours=1))
    plan = plan_window(policy(day=100.0), ledger, [(0, "job-a", 10)], now=NOW)
    (limit,) = plan.limits
    assert limit.spent == 70.0 and limit.remaining == 30.0 and limit.setting == "cost.budget.day"
    assert plan.chunks[0].ceiling_seconds == 30
    month = plan_window(policy(month=1000.0), ledger, [(0, "job-a", 10)], now=NOW)
    assert month.limits[0].spent == 570.0


def test_the_period_follows_the_pipeline_time_zone(ledger: SpendLedger) -> None:
    # 23:30 UTC on the 9th is already the 10th in Berlin.
    measured(ledger, "cams", "late", 60.0, 60, at=datetime(2026, 3, 9, 23, 30, tzinfo=UTC))
    utc = plan_window(policy(day=100.0), ledger, [(0, "j", 1)], now=NOW)
    berlin = plan_window(policy(day=100.0, timezone="Europe/Berlin"), ledger, [(0, "j", 1)], now=NOW)
    assert utc.limits[0].spent == 0.0 and berlin.limits[0].spent == 60.0


def test_a_group_budget_holds_every_member_pipeline(ledger: SpendLedger) -> None:
    measured(ledger, "cams", "a", 40.0, 40)
    measured(ledger, "docks", "b", 50.0, 50)
    cams = policy(group=group(day=100.0))
    plan = plan_window(cams, ledger, [(0, "job-c", 20)], now=NOW)
    (group_day,) = plan.limits  # the pipeline has no budget of its own
    assert group_day.name.startswith("group vision") and group_day.spent == 90.0
    assert plan.over_budget and plan.binding_setting == "budget_groups.vision.day"
    assert plan.chunks[0].ceiling_seconds == 10


def test_learned_history_replaces_the_cold_start(ledger: SpendLedger) -> None:
    for index, objects in enumerate((10, 40, 100)):
        measured(
            ledger, "cams", f"j{index}", 2.0 + 0.5 * objects, objects, at=NOW - timedelta(hours=index + 1)
        )
    plan = plan_window(policy(), ledger, [(0, "next", 200)], now=NOW)
    assert plan.model.basis == "history" and plan.model.jobs == 3
    assert plan.estimate_seconds == pytest.approx(102.0)
    # Another media type learns nothing from these.
    videos = plan_window(
        policy(media_type="videos", cold_start_seconds_per_object=None), ledger, [(0, "v", 2)], now=NOW
    )
    assert videos.model.basis == "cold-start" and videos.estimate_seconds == 120.0


def test_reservations_split_the_allowance_keep_within_it_and_are_idempotent(ledger: SpendLedger) -> None:
    spend = policy(max_credits_per_run=100.0, day=60.0)
    plan = plan_window(spend, ledger, [(0, "job-a", 30), (1, "job-b", 10)], now=NOW)
    assert not plan.over_budget
    first = reserve(spend, ledger, plan, run_id="r1", now=lambda: NOW, settle_seconds=0.0)
    assert [r.ceiling_seconds for r in first] == [45, 15]  # 60 left today, in proportion to 30:10
    assert sum(r.credits for r in first) <= 60.0
    again = reserve(
        spend, ledger, plan, run_id="r1", now=lambda: NOW + timedelta(minutes=1), settle_seconds=0.0
    )
    assert [(r.job_id, r.run, r.ceiling_seconds, r.reused) for r in again] == [
        ("job-a", 0, 45, True),
        ("job-b", 0, 15, True),
    ]
    with pytest.raises(OverBudgetError, match="no machine time left"):
        reserve_one(spend, ledger, "job-c", 5)


def test_the_user_timeout_caps_the_ceiling_and_no_budget_means_no_ceiling(ledger: SpendLedger) -> None:
    capped = policy(max_credits_per_run=1000.0, processing_timeout_seconds=120)
    (reservation,) = reserve_one(capped, ledger, "a", 10)
    assert reservation.ceiling_seconds == 120 and reservation.credits == 120.0
    free = policy()
    (unbounded,) = reserve_one(free, ledger, "b", 10)
    assert unbounded.ceiling_seconds is None and unbounded.credits == 10.0  # the estimate is held


def test_an_approved_amount_replaces_the_budgets_for_that_run(ledger: SpendLedger) -> None:
    spend = policy(max_credits_per_run=10.0)
    plan = plan_window(spend, ledger, [(0, "big", 40)], now=NOW)
    assert plan.over_budget
    (reservation,) = reserve(spend, ledger, plan, approved_credits=50.0, now=lambda: NOW, settle_seconds=0.0)
    assert reservation.ceiling_seconds == 50
    (entry,) = ledger.entries(NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert ledger.read(entry).approved_credits == 50.0


def test_concurrent_runs_of_a_group_never_reserve_more_than_the_budget(tmp_path: Path) -> None:
    """Eight runs of four pipelines race for a 100-credit group day budget on one shared folder."""
    root = tmp_path / "shared"
    results: list[object] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def run(number: int) -> None:
        ledger = SpendLedger(root)  # each worker its own view of the folder
        spend = policy(f"p{number % 4}", group=group(day=100.0), max_credits_per_run=40.0)
        plan = plan_window(spend, ledger, [(0, f"job-{number}", 30)])
        start.wait()
        try:
            outcome: object = reserve(
                spend, ledger, plan, settle_seconds=0.05, sleep=lambda s: time.sleep(min(s, 0.05))
            )
        except OverBudgetError as exc:
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    now = datetime.now(UTC)
    entries = SpendLedger(root).entries(now - timedelta(days=2), now + timedelta(days=1))
    assert sum(e.credits for e in current(entries)) <= 100.0 + 1e-6
    winners = [r for r in results if isinstance(r, list)]
    assert winners and len(winners) + sum(isinstance(r, OverBudgetError) for r in results) == 8


def test_accounting_replaces_the_reservation_and_a_reattach_spends_nothing(ledger: SpendLedger) -> None:
    from tests.unit.spend.test_machine_time import job_spend

    spend = policy(day=1000.0)
    reserve_one(spend, ledger, "job-a", 10)
    result = account(
        spend, ledger, "job-a", job_spend(seconds=12.5), objects=10, now=NOW + timedelta(minutes=5)
    )
    assert result.machine_seconds == pytest.approx(12.5) and result.credits == pytest.approx(12.5)
    (entry,) = current(ledger.entries(NOW - timedelta(days=1), NOW + timedelta(days=1)))
    assert entry.kind == "measured" and entry.at == NOW  # counted on the day the job started
    assert len(list((ledger.root / "2026-03").iterdir())) == 1  # the reservation is gone
    # A re-run of the window reserves the job's next run; the job had already finished: nothing new.
    reserve_one(spend, ledger, "job-a", 10, at=NOW + timedelta(hours=1))
    again = account(spend, ledger, "job-a", job_spend(seconds=12.5), objects=10, now=NOW + timedelta(hours=2))
    assert again.run == 1 and again.credits == 0.0 and "re-attached" in again.note
    # A job that was never created gives its reservation back.
    reserve_one(spend, ledger, "job-z", 10)
    released = account(spend, ledger, "job-z", None, objects=10, now=NOW)
    assert released.credits == 0.0 and "never created" in released.note
    total = sum(e.credits for e in current(ledger.entries(NOW - timedelta(days=1), NOW + timedelta(days=1))))
    assert total == pytest.approx(12.5)


def test_the_ledger_survives_a_restart_and_ignores_foreign_files(ledger: SpendLedger, tmp_path: Path) -> None:
    measured(ledger, "cams", "a", 30.0, 30)
    (ledger.root / "2026-03" / "notes.txt").write_text("not a record")
    fresh = SpendLedger(tmp_path / "spend")  # another worker, or the same after a restart
    plan = plan_window(policy(day=100.0), fresh, [(0, "b", 10)], now=NOW)
    assert plan.limits[0].spent == 30.0 and fresh.unreadable == ["notes.txt"]


def test_record_names_round_trip_and_refuse_strangers() -> None:
    record = SpendRecord(
        at=NOW,
        key=RecordKey("cams", "job-1", 2),
        kind="reserved",
        credits=1.5,
        machine_type="gpu",
        media_type="images",
        objects=3,
        ceiling_seconds=10,
    )
    entry = parse_name(record.name)
    assert (entry.key, entry.kind, entry.credits, entry.at) == (record.key, "reserved", 1.5, NOW)
    assert SpendRecord.from_json(record.to_json(), "x") == record
    for bad in (
        "../../etc~cams~a~r0~reserved~1.000000.json",
        "20260310T120000000000Z~Cams~a~r0~reserved~1.000000.json",
    ):
        with pytest.raises(ValueError):
            parse_name(bad)
