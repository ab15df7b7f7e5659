"""The Roboflow view's numbers (from task return values) and its HTML (escaped, only safe links)."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from include.roboflow_batch.webui.pages import overview_page, run_page
from include.roboflow_batch.webui.runs import build_view, job_state

ROW = SimpleNamespace(
    dag_id="roboflow_cams",
    run_id="scheduled__2026-11-30T01:00:00+00:00",
    state="success",
    run_after=datetime(2026, 11, 30, 2, tzinfo=UTC),
)
RETURNED = {
    "plan": {
        "window_start": "2026-11-30T01:00:00+00:00",
        "window_end": "2026-11-30T02:00:00+00:00",
        "batch_id": "cams-b1",
    },
    "list_new_objects": {"count": 10, "skipped_count": 2, "skipped": {"empty-object": 2}},
    "ingest": {"expected_count": 10},
    "wait_for_batch": {"staged": 8, "failed_count": 2, "failed_by_type": {"file-size-limit-exceeded": 2}},
    "start_job": {
        "job_id": "cams-j1",
        "job_url": "https://app.roboflow.com/ws/batch-processing/jobs/cams-j1",
    },
    "wait_for_job": {"job_id": "cams-j1", "succeeded": True},
    "export": {
        "destination": "file:///out/",
        "manifest_uri": "file:///out/manifest.json",
        "result_rows": 8,
        "reconciled": True,
    },
}
DONE = dict.fromkeys(RETURNED, "success")


def test_a_finished_run_reads_as_a_user_expects() -> None:
    view = build_view(ROW, RETURNED, DONE)

    assert (view.found, view.skipped, view.staged, view.failed) == (12, 2, 8, 2)
    assert view.failed_by_type == {"file-size-limit-exceeded": 2}
    assert (view.job_id, view.job_state, view.result_rows, view.reconciled) == (
        "cams-j1",
        "succeeded",
        8,
        True,
    )
    assert (view.window_start, view.batch_id) == ("2026-11-30T01:00:00+00:00", "cams-b1")


def test_job_state_follows_the_steps() -> None:
    assert job_state({}, {}) == "not started"
    assert job_state({"list_new_objects": "skipped", "start_job": "skipped"}, {}) == "skipped: nothing new"
    assert job_state({"start_job": "failed"}, {}) == "failed to start"
    assert job_state({"start_job": "success", "wait_for_job": "deferred"}, {}) == "running"
    assert job_state({"start_job": "success", "wait_for_job": "failed"}, {}) == "failed"
    assert job_state({"start_job": "success", "wait_for_job": "success"}, {"succeeded": True}) == "succeeded"


def test_a_window_of_skipped_objects_only_shows_its_manifest_and_no_job() -> None:
    returned = {
        "plan": RETURNED["plan"],
        "list_local_files": {"count": 0, "chunks": [], "skipped_count": 2, "skipped": {"empty-file": 2}},
        "plan_chunks": [],
        "reconcile": {
            "destination": "file:///out",
            "manifest_uri": "file:///out/manifest.json",
            "chunks": 0,
            "result_rows": 0,
            "skipped": 2,
            "reconciled": True,
        },
    }
    states = {
        "plan": "success",
        "list_local_files": "success",
        "plan_chunks": "success",
        "reconcile": "success",
    }
    states.update(
        dict.fromkeys(("ingest", "wait_for_batch", "start_job", "wait_for_job", "export"), "skipped")
    )

    view = build_view(ROW, returned, states)

    assert (view.found, view.skipped, view.staged, view.job_id) == (2, 2, None, None)
    assert view.job_state == "none: nothing to process"
    assert (view.manifest_uri, view.result_rows, view.reconciled) == ("file:///out/manifest.json", 0, True)
    html = overview_page("/roboflow-ui", {ROW.dag_id: [view]}, [], 1.0) + run_page("/roboflow-ui", view, [])
    assert "manifest.json" in html and "none: nothing to process" in html


def test_a_run_that_is_still_listing_shows_no_numbers_yet() -> None:
    view = build_view(ROW, {"plan": RETURNED["plan"]}, {"plan": "success", "list_new_objects": "running"})

    assert (view.found, view.staged, view.job_id, view.job_state) == (None, None, None, "not started")
    assert "—" in overview_page("/roboflow-ui", {ROW.dag_id: [view]}, [], 1.0)


def test_html_escapes_everything_and_links_only_http_job_urls() -> None:
    hostile = {
        **RETURNED,
        "start_job": {"job_id": "<img src=x onerror=alert(1)>", "job_url": "javascript:alert(1)"},
        "wait_for_batch": {"staged": 1, "failed_count": 1, "failed_by_type": {"<script>x</script>": 1}},
    }
    view = build_view(ROW, hostile, DONE)
    notification = {"type": "<b>t</b>", "event_id": "e", "batch_id": "cams-b1"}

    html = overview_page("/roboflow-ui", {ROW.dag_id: [view]}, [notification], 1.0) + run_page(
        "/roboflow-ui", view, [notification]
    )

    assert "<script>" not in html and "<img" not in html and "<b>t</b>" not in html
    assert "javascript:" not in html
    assert "&lt;script&gt;x&lt;/script&gt;: 1" in html


def test_run_page_links_results_and_manifest_of_that_run() -> None:
    html = run_page("/roboflow-ui", build_view(ROW, RETURNED, DONE), [])

    assert (
        'href="/roboflow-ui/manifest?dag_id=roboflow_cams&amp;run_id=scheduled__2026-11-30T01%3A00%3A00%2B00%3A00"'
        in html
    )
    assert 'class="job-link" href="https://app.roboflow.com/ws/batch-processing/jobs/cams-j1"' in html
    assert "8 rows" in html


def test_every_page_of_the_view_needs_an_airflow_login() -> None:
    from fastapi.testclient import TestClient

    from include.roboflow_batch.webui.app import create_view_app

    client = TestClient(create_view_app())
    for path in ("/", "/api/pipelines", "/runs/d/r", "/api/runs/d/r", "/manifest?dag_id=d&run_id=r"):
        assert client.get(path).status_code == 401, path


GATE_PLAN = {
    "objects": 10,
    "estimate": {"machine_seconds": 12.0, "credits": 0.0033, "model": "learned from 4 finished job(s)"},
    "message": "pipeline cams: within budget",
    "limits": [
        {"name": "pipeline cams day 2026-11-30 (UTC) budget", "budget": 1.0, "spent": 0.2, "period": "day"}
    ],
}


def test_a_run_shows_its_estimate_ceiling_measured_spend_and_budgets() -> None:
    returned = {
        **RETURNED,
        "spend_gate:spend_plan": {"decision": "within-budget", "plan": GATE_PLAN, "ceilings": [2880]},
        "account_spend": {
            "machine_seconds": 11.2,
            "credits": 0.0031,
            "limits": [
                {
                    "name": "pipeline cams day 2026-11-30 (UTC) budget",
                    "budget": 1.0,
                    "spent": 0.2031,
                    "period": "day",
                }
            ],
        },
    }
    view = build_view(ROW, returned, DONE)
    assert view.spend is not None
    assert (view.spend["estimate_credits"], view.spend["ceiling_seconds"], view.spend["credits"]) == (
        0.0033,
        2880,
        0.0031,
    )
    assert view.spend["limits"][0]["spent"] == 0.2031  # after the accounting
    overview = overview_page("/roboflow-ui", {"roboflow_cams": [view]}, [], 1.0)
    assert "est. 0.0033 cr" in overview and "ceiling 2,880.0 s" in overview and "used 0.0031 cr" in overview
    detail = run_page("/roboflow-ui", view, [])
    assert '<h2 id="spend">Spend</h2>' in detail and "pipeline cams day 2026-11-30 (UTC) budget" in detail


def test_an_over_budget_run_shows_why_from_the_plan_the_gate_pushed() -> None:
    plan = {**GATE_PLAN, "message": "pipeline cams: over budget: 10 images estimated at <b>12</b> credits"}
    gate = {"decision": "over-budget", "plan": plan, "ceilings": []}
    view = build_view(
        ROW, {"plan": RETURNED["plan"], "spend_gate:spend_plan": gate}, {"spend_gate": "failed"}
    )
    assert view.spend is not None and view.spend["decision"] == "over-budget"
    detail = run_page("/roboflow-ui", view, [])
    assert "over budget: 10 images estimated at &lt;b&gt;12&lt;/b&gt; credits" in detail  # escaped


def test_a_dry_run_shows_its_plan_and_checks() -> None:
    gate = {
        "decision": "dry-run",
        "would_start": False,
        "blocked_by": ["credits"],
        "objects": {"count": 3, "media_type": "images", "skipped": {"empty-file": 1}},
        "plan": GATE_PLAN,
        "preflight": {
            "checks": [{"check": "credits", "status": "failed", "message": "none left.", "fix": "add some."}]
        },
        "ceilings": [50],
    }
    view = build_view(
        ROW, {"plan": RETURNED["plan"], "spend_gate:spend_plan": gate}, {"spend_gate": "success"}
    )
    detail = run_page("/roboflow-ui", view, [])
    assert "Dry run: would not start: credits" in detail
    assert "<td>credits</td>" in detail and "add some." in detail and "empty-file: 1" in detail


def test_the_overview_draws_one_trend_point_per_run_with_a_value() -> None:
    from include.roboflow_batch.webui.trends import pipeline_trends

    runs = []
    for index, (staged, failed, rows, seconds) in enumerate(
        [(10, 0, 20, 60.0), (8, 2, 8, None), (12, 0, 36, 120.0)]
    ):
        view = build_view(
            SimpleNamespace(**{**vars(ROW), "run_id": f"run-{index}"}),
            {
                **RETURNED,
                "wait_for_batch": {"staged": staged, "failed_count": failed},
                "export": {
                    **RETURNED["export"],
                    "result_rows": rows,
                    "spend": {"credits": 0.5 * (index + 1)},
                },
            },
            DONE,
        )
        view.job_seconds = seconds
        runs.insert(0, view)  # the overview lists the newest first

    trends = {series.key: series for series in pipeline_trends(runs)}

    assert trends["objects"].values == [10.0, 8.0, 12.0]  # oldest first
    assert trends["failure_rate"].values == [0.0, 0.2, 0.0]
    assert trends["rows_per_object"].values == [2.0, 1.0, 3.0]
    assert trends["job_minutes"].values == [1.0, None, 2.0]
    assert trends["credits"].values == [0.5, 1.0, 1.5]
    html = overview_page("/roboflow-ui", {"roboflow_cams": runs}, [], 1.0)
    assert 'data-series="objects" data-points="3"' in html
    assert 'data-series="job_minutes" data-points="2"' in html  # the run without a duration has no point


def test_a_series_no_run_reports_is_left_out() -> None:
    from include.roboflow_batch.webui.trends import pipeline_trends

    view = build_view(ROW, RETURNED, DONE)

    assert "credits" not in {series.key for series in pipeline_trends([view])}


def finished_with_failures() -> dict[str, object]:
    return {**RETURNED, "reconcile": {**RETURNED["export"], "failed": 2, "processing_failed": 1}}


def test_the_run_tab_offers_a_repair_of_the_objects_without_a_result_to_who_may_trigger() -> None:
    view = build_view(ROW, finished_with_failures(), {**DONE, "reconcile": "success"})
    assert view.unprocessed == 3

    html = run_page("/roboflow-ui", view, [], may_trigger=True)
    action = "/roboflow-ui/runs/roboflow_cams/scheduled__2026-11-30T01%3A00%3A00%2B00%3A00/repair"
    assert f'<form class="repair" method="post" action="{action}">' in html
    assert "re-process only the 3 object(s)" in html

    refused = run_page("/roboflow-ui", view, [], may_trigger=False)
    assert "<form" not in refused and "needs permission to trigger" in refused
    done = build_view(
        ROW, {**RETURNED, "reconcile": {**RETURNED["export"], "failed": 0, "processing_failed": 0}}, DONE
    )
    assert "Nothing to repair" in run_page("/roboflow-ui", done, [], may_trigger=True)


def test_a_repair_runs_tab_says_what_became_of_the_objects_it_took() -> None:
    outcome = {"number": 1, "objects": 6, "processed": 5, "still_failing": 1}
    returned = {**finished_with_failures(), "reconcile": {**RETURNED["export"], "repair": outcome}}
    html = run_page("/roboflow-ui", build_view(ROW, returned, DONE), [])
    assert "repair 1 of its window: 6 object(s) taken again, 5 processed, 1 still without a result" in html


def test_the_repair_action_checks_origin_permission_and_window_then_shows_the_new_run(
    monkeypatch: object,
) -> None:
    from fastapi.testclient import TestClient

    from include.roboflow_batch.webui import app as view_app

    view = build_view(ROW, finished_with_failures(), DONE)
    triggered: list[tuple[str, str | None, str | None]] = []
    allowed = {"value": True}
    patch = monkeypatch.setattr  # type: ignore[attr-defined]
    patch(view_app, "run_data", lambda user, dag_id, run_id: view)
    patch(view_app, "may_trigger", lambda user, dag_id: allowed["value"])
    patch(
        view_app,
        "trigger_repair",
        lambda user, run: triggered.append((run.dag_id, run.window_start, run.window_end)) or "repair__1",
    )
    app = view_app.create_view_app()
    app.dependency_overrides[view_app.get_user] = lambda: SimpleNamespace(get_name=lambda: "alice")
    client = TestClient(app, base_url="http://airflow.local")
    path = f"/runs/{ROW.dag_id}/run/repair"

    assert client.post(path, headers={"origin": "http://elsewhere.example"}).status_code == 403
    allowed["value"] = False
    assert client.post(path, headers={"origin": "http://airflow.local"}).status_code == 403
    assert triggered == []
    allowed["value"] = True
    response = client.post(path, headers={"origin": "http://airflow.local"}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/roboflow-ui/runs/roboflow_cams/repair__1?repair_of=run"
    assert triggered == [(ROW.dag_id, "2026-11-30T01:00:00+00:00", "2026-11-30T02:00:00+00:00")]
    assert TestClient(view_app.create_view_app()).post(path).status_code == 401


def test_a_repair_run_is_no_point_of_the_trends() -> None:
    from include.roboflow_batch.webui.trends import pipeline_trends

    window = build_view(ROW, RETURNED, DONE)
    outcome = {"number": 1, "objects": 2, "processed": 2, "still_failing": 0}
    repair = build_view(
        SimpleNamespace(**{**vars(ROW), "run_id": "repair__1"}),
        {**RETURNED, "reconcile": {**RETURNED["export"], "repair": outcome}},
        DONE,
    )
    trends = {series.key: series for series in pipeline_trends([repair, window])}
    assert trends["objects"].run_ids == [window.run_id]
