"""RoboflowStartJobOperator: exactly one job per task instance, re-attach on retry, clear 409s, waiting."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from airflow.sdk import NEVER_EXPIRE
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred

from include.roboflow_batch.api.errors import CreditsExhaustedError, NotFoundError
from include.roboflow_batch.api.ids import derive_job_id
from include.roboflow_batch.api.jobs import WorkflowJobSpec
from include.roboflow_batch.links import RoboflowJobLink
from include.roboflow_batch.operators.start_job import JOB_ID_STATE_KEY, RoboflowStartJobOperator
from include.roboflow_batch.triggers.job import RoboflowJobTrigger
from tests.unit.jobs.fakes import (
    FakeHook,
    FakeJobs,
    FakeStateStore,
    Snapshot,
    conflict,
    job,
    make_context,
    refusal,
    stage,
    task,
)

DERIVED = derive_job_id(
    "pipeline_s3",
    "2026-11-28T10:00:00+00:00/2026-11-28T11:00:00+00:00",
    "start_job",
    "-1",
)


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> FakeJobs:
    fake = FakeJobs()
    hook = FakeHook(fake)
    monkeypatch.setattr(RoboflowStartJobOperator, "_hook", lambda self: hook)
    return fake


def make_operator(**kwargs: Any) -> RoboflowStartJobOperator:
    kwargs.setdefault("task_id", "start_job")
    kwargs.setdefault("batch_id", "batch-1")
    kwargs.setdefault("workflow_id", "image-stats")
    return RoboflowStartJobOperator(**kwargs)


def body(**kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("batch_id", "batch-1")
    kwargs.setdefault("workflow_id", "image-stats")
    return WorkflowJobSpec(**kwargs).to_body("demo-workspace")


def test_creates_one_job_with_the_derived_id_after_storing_it(jobs: FakeJobs) -> None:
    timeline: list[tuple[str, Any]] = jobs.calls
    store = FakeStateStore(timeline)
    context = make_context(store)
    result = make_operator(machine_type="gpu", max_parallel_tasks=4, job_name="nightly").execute(context)

    history = result.pop("job_history")
    assert result == {
        "job_id": DERIVED,
        "job_url": f"https://app.roboflow.example/demo-workspace/batch-processing/{DERIVED}",
        "batch_id": "batch-1",
        "workflow_id": "image-stats",
        "attempt": 1,
        "ceiling_seconds": None,  # no processing_timeout_seconds given
    }
    assert jobs.created == {DERIVED: body(machine_type="gpu", max_parallel_tasks=4)}
    assert store.values[JOB_ID_STATE_KEY] == DERIVED
    assert store.retention[JOB_ID_STATE_KEY] is NEVER_EXPIRE
    names = [name for name, _ in timeline]
    assert names.index("state_set") < names.index("get_job") < names.index("create_job")
    assert context["ti"].pushed["job_id"] == DERIVED
    assert context["ti"].pushed["job_url"] == result["job_url"]
    assert [event["action"] for event in context["ti"].pushed["job_history"]] == ["create"]
    # The task that waits for the job takes the history from the return value.
    assert history == context["ti"].pushed["job_history"]


def test_every_option_reaches_the_job_body(jobs: FakeJobs) -> None:
    options = {
        "part_name": "part-a",
        "images_metadata_part": "meta",
        "machine_type": "gpu",
        "workers_per_machine": 2,
        "processing_timeout_seconds": 3600,
        "max_parallel_tasks": 8,
        "max_image_failure_rate": 0.05,
        "workflow_parameters": {"threshold": 0.4},
        "image_input_name": "image",
        "persist_images_outputs": True,
        "images_outputs_to_be_persisted": ["crops"],
        "aggregation_format": "jsonl",
        "images_metadata_inputs_mapping": {"camera": "camera_id"},
        "notifications_url": "https://hooks.example/rf",
        "inference_backend": "inference-models",
    }
    make_operator(job_id="job-explicit", **options).execute(make_context())
    assert jobs.created["job-explicit"] == body(**options)


def test_video_jobs_take_max_video_fps(jobs: FakeJobs) -> None:
    make_operator(job_id="vid-1", media_type="videos", max_video_fps=2).execute(make_context())
    sent = jobs.created["vid-1"]
    assert sent["type"] == "simple-video-processing-v1"
    assert sent["processingSpecification"]["maxVideoFPS"] == 2


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"machine_type": "tpu"}, "machine_type"),
        ({"max_image_failure_rate": 1.5}, "max_image_failure_rate"),
        ({"batch_id": "Bad Batch"}, "batch_id"),
        ({"media_type": "videos", "max_image_failure_rate": 0.1}, "max_image_failure_rate"),
        ({"aggregation_format": "parquet"}, "aggregation_format"),
    ],
)
def test_invalid_options_fail_before_any_remote_call(
    jobs: FakeJobs, options: dict[str, Any], field: str
) -> None:
    store = FakeStateStore()
    with pytest.raises(AirflowFailException, match=field):
        make_operator(**options).execute(make_context(store))
    assert jobs.calls == []
    assert store.values == {}


def test_invalid_explicit_job_id_names_the_field(jobs: FakeJobs) -> None:
    with pytest.raises(AirflowFailException, match="job_id"):
        make_operator(job_id="x" * 21).execute(make_context())
    assert jobs.calls == []


def test_retry_reattaches_to_the_stored_job_instead_of_creating_another(jobs: FakeJobs) -> None:
    store = FakeStateStore()
    store.values[JOB_ID_STATE_KEY] = "job-from-try-1"
    jobs.script("job-from-try-1", Snapshot(job("job-from-try-1", definition=body())))
    context = make_context(store)
    result = make_operator().execute(context)
    assert result["job_id"] == "job-from-try-1"
    assert "create_job" not in jobs.call_names()
    assert context["ti"].pushed["job_id"] == "job-from-try-1"


def test_crash_after_create_but_before_anything_else_reattaches_by_derived_id(jobs: FakeJobs) -> None:
    # The state store is empty (e.g. cleared), but the job exists under the deterministic id.
    jobs.script(DERIVED, Snapshot(job(DERIVED, definition=body())))
    make_operator().execute(make_context())
    assert "create_job" not in jobs.call_names()


def test_running_job_with_other_run_options_is_reattached_not_doubled(jobs: FakeJobs) -> None:
    # Options that do not change the results never start a second job beside a running one.
    jobs.script(DERIVED, Snapshot(job(DERIVED, definition=body(max_parallel_tasks=2, machine_type="cpu"))))
    result = make_operator(max_parallel_tasks=8, machine_type="gpu").execute(make_context())
    assert result["job_id"] == DERIVED
    assert "create_job" not in jobs.call_names()
    assert "restart_job" not in jobs.call_names()


def test_conflict_on_create_is_a_clear_failure(jobs: FakeJobs) -> None:
    jobs.create_error = conflict()
    with pytest.raises(AirflowFailException, match="exists with another definition"):
        make_operator().execute(make_context())
    assert "restart_job" not in jobs.call_names()


CREDITS = CreditsExhaustedError(
    "Not enough credits to perform this request.", status_code=429, operation="create job (B3)"
)


def test_exhausted_credits_fail_at_once_and_a_later_run_creates_exactly_one_job(jobs: FakeJobs) -> None:
    jobs.create_error = CREDITS
    store = FakeStateStore()
    with pytest.raises(AirflowFailException) as raised:
        make_operator(roboflow_conn_id="rf_prod").execute(make_context(store))
    message = str(raised.value)
    assert f"Roboflow job {DERIVED} was not started" in message
    assert "workspace 'demo-workspace' (Airflow connection 'rf_prod') has no credits left" in message
    assert "add credits" in message and "clear this task" in message
    assert jobs.call_names().count("create_job") == 1 and not jobs.created

    jobs.create_error = None  # credits topped up; the task is cleared and runs again
    result = make_operator().execute(make_context(store))
    assert result["job_id"] == DERIVED and list(jobs.created) == [DERIVED]


def test_credits_answer_to_a_creation_that_went_through_reattaches(jobs: FakeJobs) -> None:
    # The first POST created the job but its answer was lost; the repeat meets the credits check,
    # which the service makes before its duplicate check.
    def create_then_lose_the_answer(job_id: str, body: dict[str, Any], name: str | None = None) -> None:
        jobs.calls.append(("create_job", job_id))
        jobs.script(job_id, Snapshot(job(job_id, stage=None, definition=body)))
        raise CREDITS

    jobs.create_job = create_then_lose_the_answer  # type: ignore[method-assign]
    context = make_context()
    result = make_operator().execute(context)
    assert result["job_id"] == DERIVED
    history = context["ti"].pushed["job_history"]
    assert [event["action"] for event in history] == ["reattach"]
    assert "answer was lost" in history[0]["reason"]


def test_a_missing_input_batch_says_it_may_have_expired(jobs: FakeJobs) -> None:
    jobs.create_error = NotFoundError("Batch 'batch-1' not found", status_code=404)
    with pytest.raises(AirflowFailException) as raised:
        make_operator().execute(make_context())
    message = str(raised.value)
    assert "input batch 'batch-1' does not exist" in message and "expired" in message
    assert "Re-run this interval from its first task" in message


def test_server_defaults_in_the_stored_definition_do_not_count_as_a_conflict(jobs: FakeJobs) -> None:
    stored = body()
    stored["computeConfiguration"]["machineType"] = "cpu"  # a default filled in by the server
    stored["serverOnly"] = True
    jobs.script(DERIVED, Snapshot(job(DERIVED, definition=stored)))
    make_operator().execute(make_context())
    assert "create_job" not in jobs.call_names()


def test_finished_job_is_done_without_waiting(jobs: FakeJobs) -> None:
    jobs.script(DERIVED, Snapshot(job(DERIVED, terminal=True, definition=body())))
    result = make_operator(wait_for_completion=False).execute(make_context())
    assert result["job_id"] == DERIVED
    # Attempt 1 exists; attempt 2 is looked up once (404) to be sure no later job is live; the
    # succeeded job's stages are read to check that its output batches have not expired.
    assert jobs.call_names() == ["get_job", "get_job", "list_job_stages"]


def test_finished_job_when_waiting_returns_its_output_batches_without_deferring(jobs: FakeJobs) -> None:
    jobs.script(
        DERIVED,
        Snapshot(job(DERIVED, terminal=True, definition=body()), [stage("export", outputs=["out-export"])]),
    )
    result = make_operator(wait_for_completion=True).execute(make_context())
    assert result["output_batches"] == {"export": ["out-export"]}


def test_wait_for_completion_defers_after_publishing_the_link(jobs: FakeJobs) -> None:
    context = make_context()
    operator = make_operator(wait_for_completion=True, poll_interval=3, timeout=120, roboflow_conn_id="rf")
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, RoboflowJobTrigger)
    assert (trigger.job_id, trigger.roboflow_conn_id, trigger.poll_interval) == (DERIVED, "rf", 3)
    assert deferred.value.kwargs["summary"]["job_id"] == DERIVED
    assert context["ti"].pushed["job_url"].endswith(DERIVED)


def test_execute_complete_returns_summary_with_output_batches(jobs: FakeJobs) -> None:
    summary = {"job_id": "j", "job_url": "u", "batch_id": "batch-1", "workflow_id": "image-stats"}
    event = {"status": "success", "job_id": "j", "message": "ok", "output_batches": {"export": ["e"]}}
    assert make_operator().execute_complete(make_context(), event, summary=summary) == {
        **summary,
        "output_batches": {"export": ["e"]},
    }


@pytest.mark.parametrize(
    ("event", "exception"),
    [
        (None, AirflowException),
        ({"status": "nope", "job_id": "j", "message": "m"}, AirflowException),
        ({"status": "failed", "job_id": "j", "message": "bad"}, AirflowFailException),
        ({"status": "timeout", "job_id": "j", "message": "late", "aborted": False}, AirflowException),
    ],
)
def test_execute_complete_rejects_bad_or_unsuccessful_events(
    jobs: FakeJobs, event: Any, exception: type[Exception]
) -> None:
    with pytest.raises(exception):
        make_operator().execute_complete(make_context(), event, summary={})


def test_sync_wait_polls_until_the_job_succeeds(jobs: FakeJobs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("include.roboflow_batch.operators.start_job.time.sleep", lambda s: None)
    jobs.script(
        DERIVED,
        Snapshot(job(DERIVED, definition=body()), [stage("processing")], [task("t1")]),
        Snapshot(job(DERIVED, definition=body()), [stage("processing")], [task("t1", "success")]),
        Snapshot(job(DERIVED, terminal=True, definition=body()), [stage("export", outputs=["x-export"])]),
    )
    result = make_operator(wait_for_completion=True, deferrable=False).execute(make_context())
    assert result["output_batches"] == {"export": ["x-export"]}


def test_sync_wait_times_out_and_aborts_when_asked(jobs: FakeJobs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("include.roboflow_batch.operators.start_job.time.sleep", lambda s: None)
    operator = make_operator(wait_for_completion=True, deferrable=False, timeout=0, abort_on_timeout=True)
    with pytest.raises(AirflowException, match="aborted"):
        operator.execute(make_context())
    assert jobs.call_names()[-1] == "abort_job"


def test_on_kill_aborts_only_a_job_this_task_attached_to(jobs: FakeJobs) -> None:
    idle = make_operator()
    idle.on_kill()
    assert jobs.calls == []

    operator = make_operator(wait_for_completion=True)
    with pytest.raises(TaskDeferred):
        operator.execute(make_context())
    operator.on_kill()
    assert jobs.call_names()[-1] == "abort_job"


def test_on_kill_handles_a_refused_abort(jobs: FakeJobs) -> None:
    jobs.abort_error = refusal()
    operator = make_operator(wait_for_completion=True)
    with pytest.raises(TaskDeferred):
        operator.execute(make_context())
    operator.on_kill()  # must not raise


def test_mapped_instances_get_distinct_job_ids(jobs: FakeJobs) -> None:
    first = make_operator().execute(make_context(map_index=0))["job_id"]
    second = make_operator().execute(make_context(map_index=1))["job_id"]
    assert first != second
    assert len(jobs.created) == 2


def test_run_without_data_interval_derives_from_the_run_id(jobs: FakeJobs) -> None:
    context = make_context(data_interval_start=None, data_interval_end=None, run_id="manual__1")
    job_id = make_operator().execute(context)["job_id"]
    assert job_id == derive_job_id("pipeline_s3", "manual__1", "start_job", "-1")


def test_extra_link_reads_the_job_url_xcom() -> None:
    ti_key = mock.sentinel.ti_key
    with mock.patch("include.roboflow_batch.links.XCom.get_value", return_value="https://rf/job-1") as get:
        assert RoboflowJobLink().get_link(make_operator(), ti_key=ti_key) == "https://rf/job-1"
    get.assert_called_once_with(key="job_url", ti_key=ti_key)
    with mock.patch("include.roboflow_batch.links.XCom.get_value", return_value=None):
        assert RoboflowJobLink().get_link(make_operator(), ti_key=ti_key) == ""
    assert RoboflowJobLink().name == "Roboflow job"
    assert any(isinstance(link, RoboflowJobLink) for link in RoboflowStartJobOperator.operator_extra_links)


def test_without_batch_id_the_ingest_batch_of_this_run_is_used(jobs: FakeJobs) -> None:
    from include.roboflow_batch.identity import batch_id_from_context

    context = make_context()
    result = RoboflowStartJobOperator(task_id="start_job", workflow_id="image-stats").execute(context)
    expected = batch_id_from_context(context)
    assert result["batch_id"] == expected
    assert jobs.created[result["job_id"]]["jobInput"]["batchId"] == expected


def test_every_job_option_is_a_templated_parameter_of_the_operator() -> None:
    import inspect

    from include.roboflow_batch.api.jobs import JOB_OPTION_FIELDS

    parameters = inspect.signature(RoboflowStartJobOperator.__init__).parameters
    assert set(JOB_OPTION_FIELDS) <= set(parameters)
    assert set(JOB_OPTION_FIELDS) <= set(RoboflowStartJobOperator.template_fields)
    operator = RoboflowStartJobOperator(
        task_id="t", workflow_id="wf", machine_type="gpu", max_parallel_tasks=3
    )
    spec = operator.build_spec("batch-1")
    assert (spec.machine_type, spec.max_parallel_tasks) == ("gpu", 3)
