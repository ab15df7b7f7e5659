"""Watching a pipeline in the real Airflow UI: runs through the session's api-server, scheduler,
dag-processor and triggerer with Roboflow webhooks, then downstream DAGs triggered by the results Asset
(one of them the docs' DuckDB count), the Roboflow view, its trends and the run tab with its gallery read
in headless Chromium, the run's OpenLineage events (file transport), the run tab's Repair action (a repair
run of the window's one unprocessable image), and the connection Test button."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from include.devstack import connections
from include.devstack.airflow_stack import AirflowAPI
from include.devstack.run_results import local_path, result_rows
from include.devstack.sample_media import SampleImage, sample_images, seed_s3, stand_in_s3_client
from include.devstack.services import REPO_ROOT, running, start_roboflow_emulator
from include.roboflow_batch.webui.runs import STEP_TASKS
from include.roboflow_emulator.testing import EmulatorHandle
from tests.integration.pipeline.conftest import TEST_DEFAULTS, object_store_pipeline
from tests.integration.pipeline.file_clock import boundary
from tests.integration.pipeline.test_results_table import docs_example_dag
from tests.integration.pipeline.test_scheduler_run import follow_run, returned, task_state, trigger
from tests.integration.webui.browser import missing_browser, start_chromium
from tests.integration.webui.gallery_checks import check_gallery, check_image_page, check_trends
from tests.integration.webui.lineage_events import check_lineage
from tests.shared_stack import SharedStack, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]

PIPELINE_ID = "ui_s3"
DAG_ID = f"roboflow_{PIPELINE_ID}"
COUNTING_DAG_ID = f"count_{PIPELINE_ID}_detections"  # the docs' example, as written there
CONSUMER_DAG_ID = "load_ui_s3_results"
SHOTS = REPO_ROOT / "test-output" / "ui"
KEY = connections.DEMO_PUBLISHABLE_KEY

CONSUMER_DAG = f'''
"""Loads a pipeline's results when its export lands (scheduled on the results Asset)."""
from datetime import datetime

from airflow.sdk import DAG, task

from include.roboflow_batch.export.results_asset import results_asset

with DAG("{CONSUMER_DAG_ID}", schedule=[results_asset("{PIPELINE_ID}")], start_date=datetime(2026, 1, 1)):

    @task
    def load(triggering_asset_events=None):
        return [dict(event.extra) for events in triggering_asset_events.values() for event in events]

    load()
'''


def wait_for_loaded_summary(api: AirflowAPI, destination: str, timeout: float = 240) -> dict[str, Any]:
    """The summary the downstream DAG loaded for ``destination`` (the scheduler may run the pipeline's
    latest interval too, so several exports, and downstream runs, can happen)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = api.get(f"/api/v2/dags/{CONSUMER_DAG_ID}/dagRuns")["dag_runs"]
        for run in runs:
            assert run["state"] != "failed", run
            if run["state"] == "success":
                for summary in returned(api, CONSUMER_DAG_ID, run["dag_run_id"], "load"):
                    if summary["destination"] == destination:
                        return summary
        time.sleep(1)
    raise AssertionError(f"{CONSUMER_DAG_ID} never loaded {destination}")


def shot(driver: Any, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def wait_for(driver: Any, css: str, timeout: float = 60) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def log_in(driver: Any, base_url: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(base_url + "/")
    wait_for(driver, "input[name='username']").send_keys("admin")
    driver.find_element(By.CSS_SELECTOR, "input[name='password']").send_keys(password)
    shot(driver, "00-login")
    driver.find_element(By.CSS_SELECTOR, "button[type='submit']").click()
    until(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, "input[name='password']"), "the login")


def until(driver: Any, condition: Any, what: str, timeout: float = 60) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition, f"timed out waiting for {what}")


def framed(driver: Any, css: str) -> Any:
    """The page's iframe once ``css`` is rendered inside it (the driver is left outside the frame)."""
    frame = wait_for(driver, "iframe")
    driver.switch_to.frame(frame)
    wait_for(driver, css)
    driver.switch_to.default_content()
    return frame


def test_watch_a_pipeline_in_the_airflow_ui(
    moto_server: Any, airflow_stack: SharedStack, tmp_path: Path
) -> None:
    problem = missing_browser()
    if problem:
        pytest.fail(problem)
    images = sample_images(4, prefix="ui", seed=43)
    seed_s3(moto_server.url, "it-ui-frames", "cams/", images)
    # One image whose pixels are cut off: staged, then not processable, so the window has one to repair.
    broken = sample_images(1, prefix="ui-broken", seed=44)[0].content
    stand_in_s3_client(moto_server.url).put_object(
        Bucket="it-ui-frames", Key="cams/ui-broken.png", Body=broken[: len(broken) // 2]
    )
    stack = airflow_stack
    pipeline = object_store_pipeline(
        PIPELINE_ID,
        "s3",
        "it-ui-frames",
        "cams/",
        tmp_path,
        source={"conn_id": "ui_s3"},
        webhook_url=f"{stack.base_url}/roboflow/webhooks",
        # Far longer than this test may take: the waits can only end in time through notifications.
        webhook_fallback_interval="30m",
        cost={"max_credits_per_run": 5},
    )
    # Stages held until the job wait has handed over to the triggerer.
    emulator = start_roboflow_emulator(extra_args=["--ingest-delay", "2", "--stage-delay", "600"])

    with running(emulator):
        # The webhook receiver checks deliveries against roboflow_default's publishable key: this
        # test is the only one on the shared stack with that connection.
        stack.add_connections(
            {
                "roboflow_default": connections.roboflow_connection(emulator.url, publishable_key=KEY),
                "ui_s3": connections.moto_connection(moto_server.url),
            }
        )
        stack.add_pipelines(PIPELINE_ID, {"defaults": TEST_DEFAULTS, "pipelines": [pipeline]})
        stack.add_dag_file(CONSUMER_DAG_ID, CONSUMER_DAG)
        counting = docs_example_dag().replace(
            'PIPELINE_ID = "warehouse_cameras"', f"PIPELINE_ID = {PIPELINE_ID!r}"
        )
        stack.add_dag_file(COUNTING_DAG_ID, counting)
        api = stack.api()
        api.wait_for_dags(DAG_ID, CONSUMER_DAG_ID, COUNTING_DAG_ID, timeout=300)
        logical_date = boundary(tmp_path / "clock")  # after seeding: the images are in its hour
        run_id = f"ui__{logical_date:%Y%m%dT%H%M%S}"
        # An explicit window holding the seeded objects: the scheduler's own run of the latest hour
        # may have taken them already when they were seeded just before the hour turned.
        start_run(api, run_id, logical_date, logical_date - timedelta(hours=1), logical_date)
        deferred = lambda: task_state(api, DAG_ID, run_id, "wait_for_job") == "deferred"  # noqa: E731
        wait_until(deferred, 400, "the job wait to hand over to the triggerer")
        EmulatorHandle(emulator).set_delays(stage_delay=0.5)
        state, seen = follow_run(api, DAG_ID, run_id, timeout=400)
        # The job wait, deferred (above), ended on the job's notification, long before its 30-minute
        # fallback poll.
        assert state == "success", dict(seen)
        export = returned(api, DAG_ID, run_id, "reconcile")  # the window's manifest
        job = returned(api, DAG_ID, run_id, "start_job", map_index=0)  # one chunk: one job
        # A second window over the same objects: two points on the pipeline's trend charts.
        again = f"ui2__{logical_date:%Y%m%dT%H%M%S}"
        later = logical_date + timedelta(seconds=1)
        start_run(api, again, later, logical_date - timedelta(hours=2), logical_date + timedelta(hours=1))
        assert follow_run(api, DAG_ID, again, timeout=400)[0] == "success"
        # A dry run of the first window: the plan it shows; nothing staged, every later step skipped.
        dry_run_id = f"ui_dry__{logical_date:%Y%m%dT%H%M%S}"
        dry_window = {
            "window_start": (logical_date - timedelta(hours=1)).isoformat(),
            "window_end": logical_date.isoformat(),
            "dry_run": True,
        }
        trigger(api, DAG_ID, dry_run_id, logical_date + timedelta(seconds=2), dry_window)
        assert follow_run(api, DAG_ID, dry_run_id, timeout=400)[0] == "success"

        loaded = wait_for_loaded_summary(api, export["destination"])
        counted = wait_for_count(api)
        rows = result_rows(local_path(export["destination"]))

        check_view_api(stack.base_url, api, run_id)
        browse(
            stack.base_url,
            stack.password,
            api,
            (run_id, dry_run_id),
            job,
            emulator.url,
            tmp_path,
            images,
            rows,
        )

    # Every task of the run reported START and COMPLETE with final datasets and the roboflow facet.
    task_ids = [task for task in STEP_TASKS if task != "list_local_files"]
    check_lineage(
        stack.lineage_file,
        DAG_ID,
        run_id,
        task_ids,
        source=("s3://it-ui-frames", "cams/"),
        destination=export["destination"],
        table_root=export["table"]["root"],
    )
    # The docs' DAG counted this pipeline's detections per class and day from the table.
    assert counted and {row["class"] for row in counted} == {"bright-spot"}
    assert all(row["detections"] % len(images) == 0 and row["detections"] > 0 for row in counted)

    # The downstream DAG read the manifest summary from triggering_asset_events.
    assert loaded["manifest_uri"] == export["manifest_uri"]
    assert loaded["rows"] == len(images)
    assert loaded["objects"] == {"processed": 4, "failed": 1, "skipped": 0}
    assert loaded["job_id"] == job["job_id"]
    assert loaded["reconciled"] is True


def start_run(api: AirflowAPI, run_id: str, logical_date: datetime, start: datetime, end: datetime) -> None:
    """Trigger a run of the pipeline over the window ``[start, end)`` (its window params)."""
    window = {"window_start": start.isoformat(), "window_end": end.isoformat()}
    trigger(api, DAG_ID, run_id, logical_date, window)


def wait_for_count(api: AirflowAPI, timeout: float = 240) -> list[dict[str, Any]]:
    """What the docs' counting DAG returned on its first successful run."""

    def counted() -> list[dict[str, Any]] | None:
        for run in api.get(f"/api/v2/dags/{COUNTING_DAG_ID}/dagRuns")["dag_runs"]:
            assert run["state"] != "failed", run
            if run["state"] == "success":
                return list(returned(api, COUNTING_DAG_ID, run["dag_run_id"], "count_detections"))
        return None

    return wait_until(counted, timeout, f"a successful run of {COUNTING_DAG_ID}")


def check_view_api(base_url: str, api: AirflowAPI, run_id: str) -> None:
    assert httpx.get(f"{base_url}/roboflow-ui/api/pipelines").status_code == 401
    data = api.get("/roboflow-ui/api/pipelines")
    # The scheduler may have added its own run of the latest interval: read the one this test made.
    [run] = [r for r in data["pipelines"][DAG_ID] if r["run_id"] == run_id]
    assert (run["found"], run["skipped"], run["staged"], run["failed"]) == (5, 0, 5, 0)
    assert run["unprocessed"] == 1
    assert run["job_state"] == "succeeded"
    types = {n["type"] for n in data["notifications"]}
    # The emulator notified the receiver about the ingest and the job.
    assert "roboflow-batch-job-notification-v1" in types
    assert "roboflow-data-staging-notification-v1" in types


def browse(
    base_url: str,
    password: str,
    api: AirflowAPI,
    run_ids: tuple[str, str],
    job: dict,
    emulator_url: str,
    tmp: Path,
    images: list[SampleImage],
    rows: list[dict[str, Any]],
) -> None:
    from selenium.webdriver.common.by import By

    run_id, dry_run_id = run_ids
    driver = start_chromium(tmp / "chromium-profile")
    try:
        log_in(driver, base_url, password)
        # The Roboflow view, in the UI's iframe.
        driver.get(f"{base_url}/plugin/roboflow")
        run_row = f"section[data-dag-id='{DAG_ID}'] tr.run[data-run-id='{run_id}']"
        frame = framed(driver, run_row)
        shot(driver, "01-roboflow-view")
        driver.switch_to.frame(frame)
        row = wait_for(driver, run_row)
        cells = {n: row.find_element(By.CSS_SELECTOR, f"td.{n}").text for n in ("found", "staged", "failed")}
        assert cells == {"found": "5", "staged": "5", "failed": "0"}
        assert row.find_element(By.CSS_SELECTOR, ".job-state [data-state]").text == "succeeded"
        # The cold-start estimate (5 images, a machine-second each at 1 credit an hour), the ceiling
        # 5 credits buy, and what the job used.
        spend = row.find_element(By.CSS_SELECTOR, "td.spend").text
        assert "est. 0.001389 cr" in spend and "ceiling 18,000.0 s" in spend and "used " in spend, spend
        job_link = row.find_element(By.CSS_SELECTOR, "a.job-link")
        assert job_link.text == job["job_id"] and job_link.get_attribute("href") == job["job_url"]
        notifications = driver.find_elements(By.CSS_SELECTOR, "table.notifications tr.notification")
        assert len(notifications) >= 2
        check_trends(driver, DAG_ID, run_id, shot)
        row.find_element(By.CSS_SELECTOR, "a.manifest-link").click()
        wait_for(driver, "table.doc")
        assert "Reconciled" in driver.page_source and "True" in driver.page_source
        driver.switch_to.default_content()
        shot(driver, "02-manifest")

        # The tab on the DAG run page.
        driver.get(f"{base_url}/dags/{DAG_ID}/runs/{run_id}/plugin/roboflow-run")
        frame = framed(driver, "dl.run-detail")
        shot(driver, "03-run-tab")
        driver.switch_to.frame(frame)
        detail = wait_for(driver, "dl.run-detail")
        assert detail.find_element(By.CSS_SELECTOR, ".found").text == "5"
        assert detail.find_element(By.CSS_SELECTOR, ".job-state [data-state]").text == "succeeded"
        check_gallery(driver, images, rows, shot, failed=["cams/ui-broken.png"])
        check_image_page(driver, images[0], shot)
        driver.find_element(By.CSS_SELECTOR, "a.back-link").click()
        detail = wait_for(driver, "dl.run-detail")
        detail.find_element(By.CSS_SELECTOR, "a.results-link").click()
        wait_for(driver, "table.doc")
        assert "results" in driver.page_source
        driver.switch_to.default_content()
        shot(driver, "04-results")

        # The dry run's tab: the plan, every pre-flight check with its fix, nothing started.
        driver.get(f"{base_url}/dags/{DAG_ID}/runs/{dry_run_id}/plugin/roboflow-run")
        frame = framed(driver, "h2#dry-run")
        shot(driver, "06-dry-run-tab")
        driver.switch_to.frame(frame)
        assert "Dry run: would start" in driver.page_source
        checks = {
            check.find_elements(By.CSS_SELECTOR, "td")[0].text: check.find_element(
                By.CSS_SELECTOR, "[data-state]"
            ).text
            for check in driver.find_elements(By.CSS_SELECTOR, "table.checks tr.check")
        }
        assert checks["signed-urls-fetchable"] == "warning" and checks["roboflow-key"] == "ok", checks
        driver.switch_to.default_content()

        repair_from_the_run_tab(driver, base_url, api, run_id)

        use_the_connection_test_button(driver, base_url, api, emulator_url)
    finally:
        driver.quit()


def repair_from_the_run_tab(driver: Any, base_url: str, api: AirflowAPI, run_id: str) -> None:
    """The run tab's Repair button triggers a repair run of the window, whose tab then says what
    became of the one object it took again (still unprocessable: it is the same cut-off image)."""
    from selenium.common.exceptions import NoSuchElementException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{base_url}/dags/{DAG_ID}/runs/{run_id}/plugin/roboflow-run")
    driver.switch_to.frame(wait_for(driver, "iframe"))
    form = wait_for(driver, "form.repair")
    assert "re-process only the 1 object(s)" in form.text
    driver.execute_script("arguments[0].scrollIntoView()", form)
    driver.switch_to.default_content()
    shot(driver, "04a-repair-offered")
    driver.switch_to.frame(wait_for(driver, "iframe"))
    driver.find_element(By.CSS_SELECTOR, "form.repair button").click()
    # The sandboxed frame moves to the new run's tab and says so.
    repair_run = WebDriverWait(driver, 60, ignored_exceptions=(NoSuchElementException,)).until(
        lambda page: shown_repair_run(page)
    )
    assert f"Repair triggered from run {run_id}" in driver.find_element(By.CSS_SELECTOR, "p.notice").text
    driver.switch_to.default_content()
    shot(driver, "04b-repair-triggered")

    state, seen = follow_run(api, DAG_ID, repair_run, timeout=300)
    assert state == "success", dict(seen)
    window = returned(api, DAG_ID, repair_run, "reconcile")
    assert window["repair"] | {"objects": 1, "processed": 0, "still_failing": 1} == window["repair"]
    assert (window["ingested"], window["processing_failed"], window["reconciled"]) == (5, 1, True)
    driver.get(f"{base_url}/dags/{DAG_ID}/runs/{repair_run}/plugin/roboflow-run")
    driver.switch_to.frame(wait_for(driver, "iframe"))
    outcome = wait_for(driver, "p.repair-outcome")
    assert "1 object(s) taken again, 0 processed, 1 still without a result" in outcome.text
    driver.execute_script("arguments[0].scrollIntoView()", outcome)
    driver.switch_to.default_content()
    shot(driver, "04c-repair-run")


def shown_repair_run(driver: Any) -> str | None:
    """The run the frame shows, once it is a repair run (the frame is still navigating before)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    try:
        text = str(driver.find_element(By.CSS_SELECTOR, ".run-id").text)
    except StaleElementReferenceException:
        return None
    return text if text.startswith("repair__") else None


def use_the_connection_test_button(driver: Any, base_url: str, api: AirflowAPI, emulator_url: str) -> None:
    """The Test button of the connections list, for a good and a bad ``roboflow`` connection."""
    for conn_id, key in (("roboflow_ui", connections.DEMO_API_KEY), ("roboflow_bad_key", "not-a-key")):
        api.post(
            "/api/v2/connections",
            {"connection_id": conn_id, "conn_type": "roboflow", "host": emulator_url, "password": key},
        )
    messages = {
        conn_id: click_test(driver, base_url, conn_id) for conn_id in ("roboflow_ui", "roboflow_bad_key")
    }
    assert "Connected to Roboflow workspace 'demo-workspace'" in messages["roboflow_ui"], messages
    # The message names the connection the user tested, not Airflow's temporary id.
    assert (
        "Roboflow rejected the API key of connection 'roboflow_bad_key' (HTTP 401)"
        in messages["roboflow_bad_key"]
    ), messages


def click_test(driver: Any, base_url: str, conn_id: str) -> str:
    from selenium.webdriver.common.by import By

    driver.get(f"{base_url}/connections")
    wait_for(driver, "button[aria-label='Test Connection']")
    [row] = [r for r in driver.find_elements(By.CSS_SELECTOR, "tbody tr") if conn_id in r.text]
    button = row.find_element(By.CSS_SELECTOR, "button[aria-label='Test Connection']")
    driver.execute_script("arguments[0].click()", button)
    toast = wait_for(driver, "[role='status']", timeout=60)
    # The toast shows its title first and its description as it slides in: wait for both.
    message = until(
        driver, lambda _: "\n" in (text := toast.text.strip()) and text, "the test result's message"
    )
    shot(driver, f"05-test-{conn_id}")
    return str(message)
