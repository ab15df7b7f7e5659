"""Spend control through real pipeline runs on the emulator and moto: budgets refuse before anything
is staged, every job carries a ceiling within what is left, a ceiling stop exports what finished,
the period budget holds across runs and an emulator restart, and a dry run changes nothing.

Rates of 3,600 credits per CPU machine-hour make one credit one machine-second, so the numbers read
plainly; the emulator's machines take real time per image (``set_machines``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from include.devstack.run_results import result_rows
from include.devstack.sample_media import SampleImage, sample_images, seed_s3, stand_in_s3_client
from tests.integration.pipeline.conftest import PipelineRun, object_store_pipeline

pytestmark = pytest.mark.integration

ONE_CREDIT_PER_SECOND = {"cpu": 3600.0, "gpu": 14400.0}
DEFAULT_MACHINES = {"secondsPerImage": 0.0, "taskStartSeconds": 0.0, "gpuSpeedup": 4.0, "imagesPerTask": 256}


@pytest.fixture
def machines(roboflow_emulator: Any) -> Iterator[Callable[..., Any]]:
    """Set the emulator's machine-time model for one test; put the defaults back afterwards."""
    yield roboflow_emulator.set_machines
    roboflow_emulator.set_machines(**DEFAULT_MACHINES)


def spend_pipeline(pipeline_id: str, bucket: str, out: Path, **cost: Any) -> dict[str, Any]:
    return object_store_pipeline(
        pipeline_id, "s3", bucket, "cams/", out, cost={"rates": ONE_CREDIT_PER_SECOND, **cost}
    )


def window_after() -> datetime:
    """A logical date just past what was seeded (its interval is the hour before it)."""
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    time.sleep(1)
    return moment


def spend_plan(run: PipelineRun) -> dict[str, Any]:
    """What the spend gate pushed before it decided (also when it failed)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        value = session.scalar(
            select(XComModel.value).where(
                XComModel.dag_id == run.dag_run.dag_id,
                XComModel.run_id == run.dag_run.run_id,
                XComModel.task_id == "spend_gate",
                XComModel.key == "spend_plan",
            )
        )
    return dict(json.loads(value) if isinstance(value, str | bytes) else value)


def job(emulator: Any, job_id: str) -> dict[str, Any]:
    path = f"/batch-processing/v1/external/{emulator.workspace}/jobs/{job_id}?api_key={emulator.api_key}"
    with urllib.request.urlopen(emulator.base_url + path, timeout=10) as response:
        return dict(json.loads(response.read())["job"])


def seed(moto_url: str, bucket: str, count: int, seed_value: int) -> list[SampleImage]:
    images = sample_images(count, prefix="cam", seed=seed_value)
    seed_s3(moto_url, bucket, "cams/", images)
    return images


def test_a_window_over_its_run_budget_creates_nothing_and_fails_with_the_numbers(
    run_pipeline: Callable[..., PipelineRun], moto_server: Any, roboflow_emulator: Any, tmp_path: Path
) -> None:
    seed(moto_server.url, "spend-over", 5, 3)
    # 5 images at the cold-start second each: 5 credits, over the run's 2.
    pipeline = spend_pipeline("spend_over", "spend-over", tmp_path, max_credits_per_run=2)
    pipeline["cost"]["cold_start_seconds_per_object"] = 1.0
    when = window_after()
    before = roboflow_emulator.digest()

    run = run_pipeline(pipeline, when)

    assert run.state == "failed"
    assert run.task_state("spend_gate") == "failed"
    assert run.task_state("ingest") == "upstream_failed"
    assert roboflow_emulator.digest() == before  # no batch, no ingest, no job
    decided = spend_plan(run)
    plan = decided["plan"]
    assert decided["decision"] == "over-budget" and plan["over_budget"] is True and plan["objects"] == 5
    assert "5 images estimated at 5.00 machine-seconds on cpu = 5 credits" in plan["message"]
    assert "max_credits_per_run: 2 credits" in plan["message"]
    assert "Raise cost.max_credits_per_run in astro.yaml" in plan["message"]
    assert not list((tmp_path / "private" / "roboflow-state").rglob("*.json"))  # nothing reserved


def test_jobs_carry_ceilings_within_what_is_left_and_the_day_budget_holds_across_runs_and_a_restart(
    run_pipeline: Callable[..., PipelineRun],
    moto_server: Any,
    roboflow_emulator: Any,
    machines: Callable[..., Any],
    tmp_path: Path,
) -> None:
    machines(secondsPerImage=0.25)  # 4 images: about one machine-second a job
    pipeline = spend_pipeline("spend_day", "spend-day", tmp_path, budget={"day": 12})
    pipeline["cost"]["cold_start_seconds_per_object"] = 0.5
    spent = 0.0
    for number in range(2):
        # The same four keys again: new objects for this manual run's window (what is new since).
        seed(moto_server.url, "spend-day", 4, 20 + number)
        run = run_pipeline(pipeline, window_after())
        assert run.state == "success", run.tasks
        gate, account = spend_plan(run), run.value("account_spend")
        (day,) = gate["plan"]["limits"]
        assert day["spent"] == pytest.approx(spent, abs=1e-5)  # what the earlier runs measured
        job_id = run.value("start_job")["job_id"]
        ceiling = job(roboflow_emulator, job_id)["jobDefinition"]["processingTimeoutSeconds"]
        assert ceiling == int(12 - spent) and ceiling <= day["remaining"]
        measured = account["jobs"][0]
        assert 0.5 < measured["machine_seconds"] < ceiling
        assert run.manifest["spend"]["machine_seconds"] == measured["machine_seconds"]
        spent += measured["credits"]
        if number == 0:
            # An emulator that forgets every job (a restart): the ledger on the pipeline's own
            # store still holds what was spent.
            roboflow_emulator.reset()
        else:
            assert gate["plan"]["estimate"]["basis"] == "history"
    # A window bigger than what is left today (60 images at about 0.25 s) is refused before
    # anything is staged.
    seed(moto_server.url, "spend-day", 60, 40)
    before = roboflow_emulator.digest()
    over = run_pipeline(pipeline, window_after())
    assert over.state == "failed" and over.task_state("spend_gate") == "failed"
    assert "cost.budget.day" in spend_plan(over)["plan"]["message"]
    assert spend_plan(over)["plan"]["limits"][0]["spent"] == pytest.approx(spent, abs=1e-5)
    assert roboflow_emulator.digest() == before


def high_and_low_cost_images(count_high: int, count_low: int) -> tuple[list[SampleImage], list[SampleImage]]:
    """Images the emulator takes long (factor >= 1.2) or short (<= 0.8) over, by their bytes."""

    def pick(test: Callable[[int], bool], count: int, prefix: str, start: int) -> list[SampleImage]:
        found: list[SampleImage] = []
        number = start
        while len(found) < count:
            (image,) = sample_images(1, prefix=prefix, seed=number)
            if test(hashlib.sha256(image.content).digest()[0]):
                found.append(dataclasses.replace(image, name=f"{prefix}-{len(found)}.png"))
            number += 1
        return found

    return pick(lambda b: b >= 230, count_high, "a-slow", 100), pick(
        lambda b: b <= 25, count_low, "z-quick", 500
    )


def test_a_job_stopped_by_its_ceiling_exports_what_finished_with_a_reconciling_manifest(
    run_pipeline: Callable[..., PipelineRun],
    moto_server: Any,
    roboflow_emulator: Any,
    machines: Callable[..., Any],
    tmp_path: Path,
) -> None:
    # Tasks of two images. The four slow images make two tasks of about a second each, the quick one
    # a task of about 0.3 s; a 2-second ceiling over three tasks gives each 0.67 s: the quick task
    # finishes, the slow ones are stopped.
    slow, quick = high_and_low_cost_images(4, 1)
    seed_s3(moto_server.url, "spend-stop", "cams/", [*slow, *quick])
    machines(secondsPerImage=0.4, imagesPerTask=2)
    pipeline = spend_pipeline("spend_stop", "spend-stop", tmp_path, max_credits_per_run=2)
    pipeline["cost"]["cold_start_seconds_per_object"] = 0.1

    run = run_pipeline(pipeline, window_after())

    assert run.state == "failed"
    assert run.task_state("wait_for_job") == "success" and run.value("wait_for_job")["stopped_by_ceiling"]
    assert run.task_state("export") == "success" and run.task_state("reconcile") == "failed"
    job_id = run.value("start_job")["job_id"]
    assert job(roboflow_emulator, job_id)["jobDefinition"]["processingTimeoutSeconds"] == 2
    manifest = run.manifest
    assert manifest["reconciled"] is True and manifest["stage"] == "processing"
    assert manifest["stopped_by_ceiling"]["unprocessed"] == 4
    stopped = {
        f["source_key"]
        for f in manifest["processing_failed"]["files"]
        if f["log_type"] == "stopped-by-ceiling"
    }
    assert stopped == {f"cams/{image.name}" for image in slow}
    rows = result_rows(run.destination)
    assert [row["file_name"] for row in rows] == [f"cams__{quick[0].name}"]
    account = run.value("account_spend")
    assert account["stopped_by_ceiling"] is True and account["machine_seconds"] <= 2.0 + 0.5
    assert manifest["spend"]["ceiling_seconds"] == 2


def test_a_dry_run_leaves_the_emulator_the_bucket_and_every_folder_unchanged(
    run_pipeline: Callable[..., PipelineRun], moto_server: Any, roboflow_emulator: Any, tmp_path: Path
) -> None:
    seed(moto_server.url, "spend-dry", 3, 70)
    client = stand_in_s3_client(moto_server.url)
    client.put_object(Bucket="spend-dry", Key="cams/notes.txt", Body=b"not an image")
    client.put_object(Bucket="spend-dry", Key="cams/empty.jpg", Body=b"")
    pipeline = spend_pipeline("spend_dry", "spend-dry", tmp_path, max_credits_per_run=50)
    when = window_after()
    tmp_path.joinpath("private").mkdir(parents=True, exist_ok=True)
    before = (roboflow_emulator.digest(), bucket_content(moto_server.url, "spend-dry"), tree(tmp_path))

    run = run_pipeline(pipeline, when, conf={"dry_run": True})

    assert run.state == "success"
    after = (roboflow_emulator.digest(), bucket_content(moto_server.url, "spend-dry"), tree(tmp_path))
    assert after == before
    for task_id in (
        "ingest",
        "wait_for_batch",
        "start_job",
        "wait_for_job",
        "account_spend",
        "export",
        "reconcile",
    ):
        assert run.task_state(task_id) == "skipped", task_id
    plan = spend_plan(run)
    assert plan["decision"] == "dry-run" and plan["would_start"] is True
    assert plan["objects"]["count"] == 3
    assert plan["objects"]["skipped"] == {"empty-file": 1, "unsupported-file-type": 1}
    assert plan["plan"]["estimate"]["basis"] == "cold-start" and plan["plan"]["estimate"]["credits"] == 3.0
    assert plan["ceilings"] == [50]
    checks = {check["check"]: check["status"] for check in plan["preflight"]["checks"]}
    assert checks["signed-urls-fetchable"] == "warning"  # moto on loopback: private, allowed by the tests
    assert checks["destination-writable"] == checks["references-writable"] == "ok"
    assert checks["roboflow-key"] == checks["batch-processing"] == "ok"
    assert run.value("list_new_objects")["dry_run"] is True


def bucket_content(moto_url: str, bucket: str) -> dict[str, str]:
    client = stand_in_s3_client(moto_url)
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {
        item["Key"]: hashlib.sha256(
            client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        ).hexdigest()
        for item in listed
    }


def tree(root: Path) -> dict[str, str]:
    """Every file (with its sha256) and folder under ``root`` but the astro.yaml each run writes."""
    return {
        str(path.relative_to(root)) + ("/" if path.is_dir() else ""): (
            "" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
        )
        for path in sorted(root.rglob("*"))
        if path.name != "astro.yaml"
    }


def test_over_budget_with_approve_waits_for_a_person_and_each_answer_does_what_it_says(
    run_pipeline: Callable[..., PipelineRun], moto_server: Any, roboflow_emulator: Any, tmp_path: Path
) -> None:
    from tests.integration.pipeline.approvals import answering

    pipeline = spend_pipeline(
        "spend_ask", "spend-ask", tmp_path, max_credits_per_run=1, on_over_budget="approve"
    )
    pipeline["cost"]["cold_start_seconds_per_object"] = 1.0  # 3 images: 3 credits, over the run's 1
    dag_id = "roboflow_spend_ask"

    seed(moto_server.url, "spend-ask", 3, 80)
    before = roboflow_emulator.digest()
    with answering(dag_id, "Reject") as request:
        rejected = run_pipeline(pipeline, window_after())
    assert request.error is None
    assert "3 objects, estimated 3 credits: over budget" in request.subject
    assert "**3 objects** in 1 job(s)" in request.body and "max_credits_per_run: 1 credits" in request.body
    assert request.params["max_credits"]["value"] == 3.0
    # Rejected: the run ends without spending, successful (a decision, not an error), later steps skipped.
    assert rejected.state == "success"
    assert spend_plan(rejected)["decision"] == "rejected" and not rejected.value("spend_gate")
    assert spend_plan(rejected)["responded_by"] == "ops-lead"
    assert {rejected.task_state(t) for t in ("ingest", "start_job", "export", "reconcile")} == {"skipped"}
    assert roboflow_emulator.digest() == before

    seed(moto_server.url, "spend-ask", 3, 81)
    with answering(dag_id, "timeout") as request:
        timed_out = run_pipeline(pipeline, window_after())
    assert request.error is None
    assert timed_out.state == "success" and spend_plan(timed_out)["decision"] == "timed-out"
    assert timed_out.task_state("ingest") == "skipped"
    assert roboflow_emulator.digest() == before

    seed(moto_server.url, "spend-ask", 3, 82)
    with answering(dag_id, "Approve", {"max_credits": 5}) as request:
        approved = run_pipeline(pipeline, window_after())
    assert request.error is None
    assert approved.state == "success", approved.tasks
    gate = spend_plan(approved)
    assert gate["decision"] == "approved" and gate["approved_credits"] == 5.0 and gate["ceilings"] == [5]
    assert [allowed["ceiling_seconds"] for allowed in approved.value("spend_gate")] == [5]
    job_id = approved.value("start_job")["job_id"]
    assert job(roboflow_emulator, job_id)["jobDefinition"]["processingTimeoutSeconds"] == 5
    assert approved.manifest["reconciled"] is True


@pytest.mark.slow
def test_a_repair_is_estimated_and_bounded_on_the_objects_it_takes_again(
    run_pipeline: Callable[..., PipelineRun],
    moto_server: Any,
    roboflow_emulator: Any,
    machines: Callable[..., Any],
    tmp_path: Path,
) -> None:
    machines(secondsPerImage=0.25)
    images = seed(moto_server.url, "spend-repair", 6, 60)
    broken = images[:2]
    s3 = stand_in_s3_client(moto_server.url)
    for image in broken:  # the header of a PNG but not its pixels: staged, then not processable
        s3.put_object(
            Bucket="spend-repair", Key=f"cams/{image.name}", Body=image.content[: len(image.content) // 2]
        )
    pipeline = spend_pipeline("spend_repair", "spend-repair", tmp_path, budget={"day": 30})
    pipeline["cost"]["cold_start_seconds_per_object"] = 0.5
    when = window_after()
    first = run_pipeline(pipeline, when)
    assert first.state == "success", first.tasks
    assert first.manifest["processing_failed"]["count"] == 2
    seed_s3(moto_server.url, "spend-repair", "cams/", broken)  # fixed
    plan = first.value("plan")
    conf = {"repair": True, "window_start": plan["window_start"], "window_end": plan["window_end"]}

    # A repair costs what its own objects cost: over a run budget smaller than that, it stages nothing.
    before = roboflow_emulator.digest()
    refused = run_pipeline(
        {**pipeline, "cost": {**pipeline["cost"], "max_credits_per_run": 0.01}},
        when + timedelta(days=1),
        conf=conf,
    )
    assert refused.state == "failed" and refused.task_state("spend_gate") == "failed"
    assert spend_plan(refused)["plan"]["objects"] == 2
    assert roboflow_emulator.digest() == before

    repair = run_pipeline(pipeline, when + timedelta(days=2), conf=conf)
    assert repair.state == "success", repair.tasks
    gate = spend_plan(repair)
    assert gate["plan"]["objects"] == 2  # the two it takes again, not the window's six
    (day,) = gate["plan"]["limits"]
    ceiling = job(roboflow_emulator, repair.value("start_job")["job_id"])["jobDefinition"][
        "processingTimeoutSeconds"
    ]
    assert 0 < ceiling <= day["remaining"]
    assert repair.value("account_spend")["jobs"][0]["machine_seconds"] > 0
    window = json.loads((first.destination / "manifest.json").read_text())
    assert window["reconciled"] is True and window["processing_failed"]["count"] == 0
