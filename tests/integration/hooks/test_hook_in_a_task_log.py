"""The hook's failure modes as a new user meets them: in the log of a real Airflow task.

Each connection is checked by two tasks: ``check_connection`` (``test_connection()``, raising its
message) and ``list_jobs`` (``get_client().iter_jobs()`` with the connection's default retries).
"""

from __future__ import annotations

import pytest

from tests.integration.hooks.conftest import ALL_KEYS, MARKER, TASKS, HookChecks

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(600),
]

JOBS_ROUTE = "GET /batch-processing/v1/external/{workspace}/jobs"


def test_a_good_key_passes_both_tasks(hook_checks: HookChecks) -> None:
    run = hook_checks.runs["rf_qa_good"]

    assert run.state == "success"
    assert {task_id: outcome.state for task_id, outcome in run.tasks.items()} == dict.fromkeys(
        TASKS, "success"
    )
    assert "Connected to Roboflow workspace 'demo-workspace'" in run.tasks["check_connection"].log_text
    # check: root lookup + one page of jobs; list_jobs: the same two calls.
    assert run.requests == {"GET /": 2, JOBS_ROUTE: 2}


def test_a_wrong_key_fails_at_once_saying_the_key_was_rejected(hook_checks: HookChecks) -> None:
    run = hook_checks.runs["rf_qa_wrong_key"]

    assert run.state == "failed"
    for task_id, outcome in run.tasks.items():
        assert outcome.state == "failed", task_id
        assert "rf_qa_wrong_key" in outcome.error_text, task_id
        assert "HTTP 401" in outcome.error_text, task_id
    assert "Roboflow rejected the API key of connection 'rf_qa_wrong_key'" in (
        run.tasks["check_connection"].error_text
    )
    assert "the API key from Airflow connection 'rf_qa_wrong_key' was rejected" in (
        run.tasks["list_jobs"].error_text
    )
    # A 401 is never repeated: one root lookup per task, and nothing else.
    assert run.requests == {"GET /": 2}


def test_an_unreachable_host_fails_saying_it_cannot_be_reached(hook_checks: HookChecks) -> None:
    run = hook_checks.runs["rf_qa_unreachable"]

    assert run.state == "failed"
    for task_id, outcome in run.tasks.items():
        assert outcome.state == "failed", task_id
        assert "rf_qa_unreachable" in outcome.error_text, task_id
        assert run.base_url in outcome.error_text, task_id
        assert "Connection refused" in outcome.error_text, task_id
    assert "Cannot reach the Roboflow API" in run.tasks["check_connection"].error_text
    # test_connection never retries; the client retries a refused connection max_retries (5) times.
    assert "retrying" not in run.tasks["check_connection"].log_text
    assert run.tasks["list_jobs"].log_text.count("retrying in") == 5


def test_a_workspace_without_batch_processing_is_named_as_such(hook_checks: HookChecks) -> None:
    run = hook_checks.runs["rf_qa_no_batch"]

    assert run.state == "failed"
    for task_id, outcome in run.tasks.items():
        assert outcome.state == "failed", task_id
        assert "rf_qa_no_batch" in outcome.error_text, task_id
        assert "HTTP 402" in outcome.error_text, task_id
    assert "is valid, but its workspace has no Batch Processing access" in (
        run.tasks["check_connection"].error_text
    )
    # A 402 is never repeated: per task one root lookup and one jobs call.
    assert run.requests == {"GET /": 2, JOBS_ROUTE: 2}


def test_no_api_key_reaches_any_log_file_or_error(hook_checks: HookChecks) -> None:
    for run in hook_checks.runs.values():
        for task_id, outcome in run.tasks.items():
            assert outcome.log_files, f"no log file for {run.conn_id}/{task_id}"
            # The search reads the right files: the task's own marker line is there.
            assert f"{MARKER}: " in outcome.log_text, (run.conn_id, task_id)
            assert run.api_key not in outcome.log_text + outcome.error_text, (run.conn_id, task_id)
    everything = hook_checks.all_log_text()
    assert MARKER in everything
    for key in ALL_KEYS:
        assert key not in everything, key
