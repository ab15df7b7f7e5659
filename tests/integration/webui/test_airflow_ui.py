"""Watching a pipeline in the real Airflow UI: one run through api-server, scheduler, dag-processor and
triggerer with Roboflow webhooks, then a downstream DAG triggered by the results Asset, the Roboflow
view and run tab read in headless Chromium, the run tab's Repair action (a repair run of the window's
one unprocessable image), and the connection Test button."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from include.devstack import connections
from include.devstack.airflow_stack import AirflowAPI, airflow_env, ensure_pool, migrate_db, running_stack
from include.devstack.sample_media import sample_images, seed_s3, stand_in_s3_client
from include.devstack.services import REPO_ROOT, free_port, running, start_roboflow_emulator
from tests.integration.pipeline.conftest import TEST_DEFAULTS, object_store_pipeline
from tests.integration.pipeline.test_scheduler_run import follow_run, returned, trigger
from tests.integration.webui.browser import missing_browser, start_chromium

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PIPELINE_ID = "ui_s3"
DAG_ID = f"roboflow_{PIPELINE_ID}"
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


def dags_folder(root: Path) -> Path:
    folder = root / "dags"
    folder.mkdir()
    for source in (REPO_ROOT / "dags").glob("*.py"):
        shutil.copy(source, folder / source.name)
    (folder / "load_results.py").write_text(CONSUMER_DAG)
    return folder


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
    time.sleep(3)


def test_watch_a_pipeline_in_the_airflow_ui(moto_server: Any, tmp_path: Path) -> None:
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
    port = free_port()
    pipeline = object_store_pipeline(
        PIPELINE_ID,
        "s3",
        "it-ui-frames",
        "cams/",
        tmp_path,
        webhook_url=f"http://127.0.0.1:{port}/roboflow/webhooks",
        # Far longer than this test may take: the waits can only end in time through notifications.
        webhook_fallback_interval="30m",
    )
    emulator = start_roboflow_emulator(extra_args=["--ingest-delay", "2", "--stage-delay", "10"])
    home = tmp_path / "airflow-home"
    home.mkdir()
    pipelines_file = home / "astro.yaml"
    pipelines_file.write_text(yaml.safe_dump({"defaults": TEST_DEFAULTS, "pipelines": [pipeline]}))
    env = airflow_env(
        home,
        dags_folder=dags_folder(tmp_path),
        connections={
            "roboflow_default": connections.roboflow_connection(emulator.url, publishable_key=KEY),
            "it_s3": connections.moto_connection(moto_server.url),
        },
        extra={"ROBOFLOW_PIPELINES_FILE": str(pipelines_file), "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"},
    )

    with running(emulator):
        migrate_db(env)
        ensure_pool(env)
        with running_stack(home, env, port=port) as stack:
            api = stack.api()
            api.wait_for_dags(DAG_ID, CONSUMER_DAG_ID)
            logical_date = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
            time.sleep(1)
            run_id = f"ui__{logical_date:%Y%m%dT%H%M%S}"
            trigger(api, DAG_ID, run_id, logical_date)
            state, seen = follow_run(api, DAG_ID, run_id, timeout=400)
            assert state == "success", dict(seen)
            # The job wait handed over to the triggerer and ended on the job's notification, long before
            # its 30-minute fallback poll.
            assert "deferred" in seen["wait_for_job"], dict(seen)
            export = returned(api, DAG_ID, run_id, "reconcile")  # the window's manifest
            job = returned(api, DAG_ID, run_id, "start_job", map_index=0)  # one chunk: one job

            loaded = wait_for_loaded_summary(api, export["destination"])

            check_view_api(stack.base_url, api, run_id)
            browse(stack.base_url, stack.password, api, run_id, job, emulator.url, tmp_path)

    # The downstream DAG read the manifest summary from triggering_asset_events.
    assert loaded["manifest_uri"] == export["manifest_uri"]
    assert loaded["rows"] == len(images)
    assert loaded["objects"] == {"processed": 4, "failed": 1, "skipped": 0}
    assert loaded["job_id"] == job["job_id"]
    assert loaded["reconciled"] is True


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
    base_url: str, password: str, api: AirflowAPI, run_id: str, job: dict, emulator_url: str, tmp: Path
) -> None:
    from selenium.webdriver.common.by import By

    driver = start_chromium(tmp / "chromium-profile")
    try:
        log_in(driver, base_url, password)
        # The Roboflow view, in the UI's iframe.
        driver.get(f"{base_url}/plugin/roboflow")
        frame = wait_for(driver, "iframe")
        time.sleep(2)
        shot(driver, "01-roboflow-view")
        driver.switch_to.frame(frame)
        row = wait_for(driver, f"section[data-dag-id='{DAG_ID}'] tr.run[data-run-id='{run_id}']")
        cells = {n: row.find_element(By.CSS_SELECTOR, f"td.{n}").text for n in ("found", "staged", "failed")}
        assert cells == {"found": "5", "staged": "5", "failed": "0"}
        assert row.find_element(By.CSS_SELECTOR, ".job-state [data-state]").text == "succeeded"
        job_link = row.find_element(By.CSS_SELECTOR, "a.job-link")
        assert job_link.text == job["job_id"] and job_link.get_attribute("href") == job["job_url"]
        notifications = driver.find_elements(By.CSS_SELECTOR, "table.notifications tr.notification")
        assert len(notifications) >= 2
        row.find_element(By.CSS_SELECTOR, "a.manifest-link").click()
        wait_for(driver, "table.doc")
        assert "Reconciled" in driver.page_source and "True" in driver.page_source
        driver.switch_to.default_content()
        shot(driver, "02-manifest")

        # The tab on the DAG run page.
        driver.get(f"{base_url}/dags/{DAG_ID}/runs/{run_id}/plugin/roboflow-run")
        frame = wait_for(driver, "iframe")
        time.sleep(2)
        shot(driver, "03-run-tab")
        driver.switch_to.frame(frame)
        detail = wait_for(driver, "dl.run-detail")
        assert detail.find_element(By.CSS_SELECTOR, ".found").text == "5"
        assert detail.find_element(By.CSS_SELECTOR, ".job-state [data-state]").text == "succeeded"
        detail.find_element(By.CSS_SELECTOR, "a.results-link").click()
        wait_for(driver, "table.doc")
        assert "results" in driver.page_source
        driver.switch_to.default_content()
        shot(driver, "04-results")

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
    time.sleep(0.5)
    shot(driver, f"05-test-{conn_id}")
    return toast.text
