"""A deferred wait marked failed in the UI, then cleared, through the session's real scheduler and
triggerer.

Marking the deferred ``wait_for_job`` failed cancels its trigger with Airflow's user-action message;
the triggerer then calls the trigger's ``on_kill``, which aborts the job. Clearing the wait starts a
new try, which finds the job aborted, restarts it, waits and lets the interval finish.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from include.devstack import connections
from include.devstack.run_results import local_path, result_rows
from include.devstack.sample_media import sample_images, write_files
from include.devstack.services import running, start_roboflow_emulator
from include.roboflow_batch.api.client import RoboflowClient
from include.roboflow_emulator.testing import EmulatorHandle
from tests.integration.pipeline.conftest import TEST_DEFAULTS
from tests.integration.pipeline.file_clock import boundary
from tests.integration.pipeline.test_scheduler_run import (
    follow_run,
    returned,
    task_state,
    trigger,
    trigger_log_text,
)
from tests.shared_stack import SharedStack, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

DAG_ID = "roboflow_marked_failed"
WAIT = "wait_for_job"


def test_marking_the_deferred_wait_failed_aborts_the_job_and_a_clear_restarts_it(
    airflow_stack: SharedStack, tmp_path: Path
) -> None:
    images = sample_images(3, prefix="marked", seed=74)
    write_files(tmp_path / "drop", images)
    pipeline = {
        "id": "marked_failed",
        "source": {"kind": "local", "directory": str(tmp_path / "drop"), "media": "images"},
        "workflow": {"id": "bright-spot-detector"},
        "export": {
            "destination": str(tmp_path / "results" / "{pipeline}" / "{interval_start:%Y%m%dT%H%M%S}/")
        },
        "roboflow_conn_id": "marked_failed_roboflow",
    }
    # Stages far longer than the test: the job is still processing when the wait is marked failed, however
    # slow the machine; once it is aborted, short stages let the restarted job finish.
    emulator = start_roboflow_emulator(extra_args=["--ingest-delay", "0.2", "--stage-delay", "600"])
    stack, home = airflow_stack, airflow_stack.home
    client = RoboflowClient(emulator.url, "test-api-key", workspace="demo-workspace")

    with running(emulator), client:
        stack.add_connections({"marked_failed_roboflow": connections.roboflow_connection(emulator.url)})
        stack.add_pipelines("marked_failed", {"defaults": TEST_DEFAULTS, "pipelines": [pipeline]})
        api = stack.api()
        api.wait_for_dags(DAG_ID, timeout=300)
        logical_date = boundary(tmp_path / "clock")  # after the images were written: in its hour
        run_id = f"rest__{logical_date:%Y%m%dT%H%M%S}"
        trigger(api, DAG_ID, run_id, logical_date)

        wait_until(lambda: task_state(api, DAG_ID, run_id, WAIT) == "deferred", 400, "the deferred wait")
        # Marked failed before the triggerer picked the trigger up, there is no trigger to cancel
        # (the job then keeps running, and the cleared wait re-attaches to it).
        wait_until(
            lambda: "starting" in trigger_log_text(home, DAG_ID, run_id, WAIT), 60, "the trigger to run"
        )
        job_id = returned(api, DAG_ID, run_id, "start_job", map_index=0)["job_id"]
        assert client.get_job(job_id).is_terminal is False
        api.patch(f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{WAIT}/0", {"new_state": "failed"})
        aborted = wait_until(
            lambda: (job := client.get_job(job_id)).is_terminal and job, 60, "on_kill to abort the job"
        )
        assert aborted.error is True
        assert "aborted" in str(aborted.last_notification).lower()
        assert "invoking on_kill" in trigger_log_text(home, DAG_ID, run_id, WAIT)
        EmulatorHandle(emulator).set_delays(stage_delay=0.5)

        api.post(
            f"/api/v2/dags/{DAG_ID}/clearTaskInstances",
            {
                "dag_run_id": run_id,
                "task_ids": [WAIT],
                "include_downstream": True,
                "only_failed": False,
                "dry_run": False,
            },
        )
        state, seen = follow_run(api, DAG_ID, run_id, timeout=300)
        assert state == "success", dict(seen)
        export = returned(api, DAG_ID, run_id, "export", map_index=0)
        finished = client.get_job(job_id)
        creations = EmulatorHandle(emulator).state()["jobCreations"]

    assert emulator.process.poll() is not None
    # One job for the interval, aborted by on_kill, restarted by the cleared wait, then finished.
    assert creations == {job_id: 1}
    assert (finished.is_terminal, finished.error) == (True, False)
    history = json.loads(local_path(export["manifest_uri"]).read_text())["job_history"]
    assert [(event["action"], event.get("by")) for event in history] == [
        ("create", "start_job"),
        ("restart", WAIT),
    ]
    assert export["reconciled"] is True
    assert len(result_rows(local_path(export["destination"]))) == len(images)
