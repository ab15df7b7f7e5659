"""Roboflow's own limits through real pipeline runs: exhausted credits, slow job starts, 7-day expiry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow.sdk.exceptions import AirflowFailException

from include.devstack.sample_media import sample_images, seed_s3
from tests.integration.pipeline.conftest import PipelineRun, object_store_pipeline
from tests.unit.ingest.task_context import make_context

pytestmark = pytest.mark.integration

CREATE_JOB = "POST /batch-processing/v1/external/{workspace}/jobs/{jobId}"
EIGHT_DAYS = 8 * 24 * 3600


def try_number(run: PipelineRun, task_id: str) -> int:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return int(
            session.scalar(
                select(TaskInstance.try_number).where(
                    TaskInstance.run_id == run.dag_run.run_id, TaskInstance.task_id == task_id
                )
            )
        )


def creations(emulator: Any) -> int:
    return int(emulator.state()["requests"].get(CREATE_JOB, 0))


def seeded_pipeline(moto_server: Any, tmp_path: Path, pipeline_id: str, count: int = 2) -> dict[str, Any]:
    bucket = f"it-limits-{pipeline_id.replace('_', '-')}"
    seed_s3(moto_server.url, bucket, "in/", sample_images(count, prefix="img", seed=len(pipeline_id)))
    return object_store_pipeline(pipeline_id, "s3", bucket, "in/", tmp_path)


def test_exhausted_credits_fail_the_run_at_once_and_a_later_run_creates_exactly_one_job(
    run_pipeline: Callable[..., PipelineRun], moto_server: Any, roboflow_emulator: Any, tmp_path: Path
) -> None:
    pipeline = seeded_pipeline(moto_server, tmp_path, "it_credits")
    logical_date = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    before = creations(roboflow_emulator)
    roboflow_emulator.set_switches(creditsExhausted=True)
    try:
        refused = run_pipeline(pipeline, logical_date)
    finally:
        roboflow_emulator.set_switches(creditsExhausted=False)

    assert refused.state == "failed" and refused.task_state("start_job") == "failed"
    # One request, one try: neither the client nor Airflow's retries (2 here) repeated it.
    assert creations(roboflow_emulator) - before == 1
    assert try_number(refused, "start_job") == 1
    assert refused.value("plan")["job_id"] not in roboflow_emulator.state()["jobCreations"]
    assert refused.task_state("ingest") == "success"  # staging spends no credits and is kept

    # Credits topped up; the interval runs again: the batch is re-used, exactly one job is created.
    again = run_pipeline(pipeline, logical_date)
    assert again.state == "success", again.tasks
    job_id = again.value("start_job")["job_id"]
    assert roboflow_emulator.state()["jobCreations"][job_id] == 1
    assert again.value("ingest")["batch_id"] == refused.value("ingest")["batch_id"]


def test_a_job_that_starts_long_after_submission_is_waited_for_with_the_default_waits(
    run_pipeline: Callable[..., PipelineRun], moto_server: Any, roboflow_emulator: Any, tmp_path: Path
) -> None:
    # Scaled down: a start latency of several poke intervals stands for Roboflow's 3-8 minutes (or
    # 30 under load) against the 10 s default; the wait's timeout stays far above either.
    pipeline = seeded_pipeline(moto_server, tmp_path, "it_slow_start")
    roboflow_emulator.set_switches(jobStartLatencySeconds=3.5)
    try:
        run = run_pipeline(pipeline)
    finally:
        roboflow_emulator.set_switches(jobStartLatencySeconds=0)

    assert run.state == "success", run.tasks
    job_id = run.value("wait_for_job")["job_id"]
    jobs = f"{roboflow_emulator.base_url}/batch-processing/v1/external/{roboflow_emulator.workspace}/jobs"
    base = f"{jobs}/{job_id}"
    params = {"api_key": roboflow_emulator.api_key}
    job = httpx.get(base, params=params).json()["job"]
    stages = httpx.get(f"{base}/stages", params=params).json()["stages"]
    created = datetime.fromisoformat(job["createdAt"])
    started = datetime.fromisoformat(stages[0]["startTimestamp"])
    assert started - created >= timedelta(seconds=3.5)  # the job really sat waiting for machines
    assert try_number(run, "wait_for_job") == 1  # ... and the wait neither failed nor timed out


@pytest.mark.slow
@pytest.mark.parametrize("expired_ids", ["reuse", "refuse"])
def test_expired_results_are_named_by_the_export_and_a_rerun_stages_the_data_again(
    run_pipeline: Callable[..., PipelineRun],
    moto_server: Any,
    roboflow_emulator: Any,
    tmp_path: Path,
    expired_ids: str,
) -> None:
    from include.roboflow_batch.api.ids import staged_batch_id
    from include.roboflow_batch.operators.export import RoboflowExportOperator

    pipeline = seeded_pipeline(moto_server, tmp_path, f"it_expiry_{expired_ids}", count=3)
    logical_date = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    first = run_pipeline(pipeline, logical_date)
    assert first.state == "success", first.tasks
    job_id, batch_id = first.value("start_job")["job_id"], first.value("ingest")["batch_id"]

    # reuse: the service starts a new batch under an expired batch's id (what the contract suggests);
    # refuse: it keeps the id reserved (409), and the data is staged under the next staging's id.
    roboflow_emulator.set_switches(expiredBatchIds=expired_ids)
    roboflow_emulator.advance_clock(EIGHT_DAYS)
    try:
        export = RoboflowExportOperator(
            task_id="export", job_id=job_id, destination=(tmp_path / "late").as_uri()
        )
        with pytest.raises(AirflowFailException) as raised:
            export.execute(make_context())
        message = str(raised.value)
        assert message.startswith(f"Output batch '{job_id}-export' of Roboflow job {job_id} no longer exists")
        assert "expired at about" in message and "Re-run this interval" in message

        again = run_pipeline(pipeline, logical_date)

        assert again.state == "success", again.tasks
        staged = batch_id if expired_ids == "reuse" else staged_batch_id(batch_id, 2)
        assert again.value("ingest")["batch_id"] == staged
        assert again.value("start_job")["batch_id"] == staged
        state = roboflow_emulator.state()
        assert state["batches"][staged]["expired"] is False and state["batches"][staged]["fileCount"] == 3
        new_job = again.value("start_job")["job_id"]
        assert new_job != job_id and again.value("start_job")["attempt"] == 2
        assert (state["jobCreations"][job_id], state["jobCreations"][new_job]) == (1, 1)
        assert again.manifest["reconciled"] is True and again.manifest["job_id"] == new_job
    finally:
        roboflow_emulator.clear_switches()
        roboflow_emulator.reset()  # puts the clock back for the tests after this one
