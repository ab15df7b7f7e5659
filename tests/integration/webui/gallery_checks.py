"""What a person sees of a finished run in the Roboflow view: its gallery with the boxes where the
emulator found the bright squares, class counts that match the result rows, an image's own page with
its raw prediction, and the overview's trend charts with one point per run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from include.devstack.sample_media import SampleImage

# An image must arrive within this long of the page (seconds): the wait ends as soon as it has.
IMAGE_WAIT = 60


def _visible(driver: Any, css: str, timeout: float = 60) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(
        expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, css))
    )


def fetched(driver: Any, href: str) -> dict[str, Any]:
    """The browser's own request of ``href`` (same origin, its login cookie): status, type, size."""
    script = """
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {credentials: "same-origin"})
            .then(async r => done({status: r.status, type: r.headers.get("content-type"),
                                   size: (await r.arrayBuffer()).byteLength}))
            .catch(e => done({error: String(e)}));
    """
    driver.set_script_timeout(IMAGE_WAIT)
    return dict(driver.execute_async_script(script, href))


def check_gallery(
    driver: Any,
    images: Sequence[SampleImage],
    result_rows: list[dict[str, Any]],
    shot: Callable[[Any, str], Path],
    failed: Sequence[str] = (),
) -> None:
    """On the run tab (already open in its iframe): every sample image with its box, each failed object
    (``failed``: keys) with where and why it failed, counts, histogram."""
    from selenium.webdriver.common.by import By

    gallery = _visible(driver, "section.gallery")
    driver.execute_script("arguments[0].scrollIntoView()", gallery)
    figures = {f.get_attribute("data-key"): f for f in gallery.find_elements(By.CSS_SELECTOR, "figure.item")}
    expected = {f"cams/{image.name}": image for image in images}
    assert set(figures) == set(expected) | set(failed), sorted(figures)
    for key in failed:
        reason = figures[key].find_element(By.CSS_SELECTOR, ".failure").text
        assert reason.startswith("processing: "), reason
    for key, image in expected.items():
        svg = figures[key].find_element(By.CSS_SELECTOR, "svg.thumb")
        assert (svg.get_attribute("data-width"), svg.get_attribute("data-height")) == (
            str(image.width),
            str(image.height),
        )
        href = svg.find_element(By.CSS_SELECTOR, "image").get_attribute("href")
        answer = fetched(driver, href)
        assert (answer.get("status"), answer.get("type"), answer.get("size")) == (
            200,
            "image/png",
            len(image.content),
        ), answer
        [box] = svg.find_elements(By.CSS_SELECTOR, "rect.box")
        left, top = float(box.get_attribute("x")), float(box.get_attribute("y"))
        width, height = float(box.get_attribute("width")), float(box.get_attribute("height"))
        x, y, side, _ = image.spot
        # The emulator's box is the square the sample drew, within one cell of its grid.
        assert abs(left + width / 2 - x) <= 1.5 and abs(top + height / 2 - y) <= 1.5, (
            key,
            box.get_attribute("outerHTML"),
        )
        assert abs(width - side) <= 3.0 and abs(height - side) <= 3.0  # two grid cells of 1.5 px
        assert "bright-spot" in svg.text
    detections = sum(len(row["predictions"]["predictions"]) for row in result_rows)
    counts = {
        bar.get_attribute("data-class"): int(bar.get_attribute("data-count"))
        for bar in gallery.find_elements(By.CSS_SELECTOR, "svg.class-counts g.class-count")
    }
    assert counts == {"bright-spot": detections}, counts
    bins = [int(b.get_attribute("data-count")) for b in gallery.find_elements(By.CSS_SELECTOR, "rect.bin")]
    assert sum(bins) == detections and len(bins) == 10
    shot(driver, "06-run-gallery")


def check_image_page(driver: Any, image: SampleImage, shot: Callable[[Any, str], Path]) -> None:
    """A click on one image: it larger, its prediction, and the raw result row it came from."""
    from selenium.webdriver.common.by import By

    figure = driver.find_element(By.CSS_SELECTOR, f"figure.item[data-key='cams/{image.name}']")
    figure.find_element(By.CSS_SELECTOR, "a.item-link").click()
    large = _visible(driver, "svg.large")
    assert large.find_elements(By.CSS_SELECTOR, "rect.box")
    shot(driver, "07-image-page")
    raw = driver.find_element(By.CSS_SELECTOR, "pre.raw")
    driver.execute_script("arguments[0].scrollIntoView()", raw)
    assert '"detection_id"' in raw.text and f'"file_name": "cams__{image.name}"' in raw.text
    shot(driver, "07-image-page-raw")


def check_trends(driver: Any, dag_id: str, run_id: str, shot: Callable[[Any, str], Path]) -> None:
    """The overview (open in its iframe): one point per run that processed objects, ours among them."""
    from selenium.webdriver.common.by import By

    section = _visible(driver, f"section[data-dag-id='{dag_id}']")
    chart = section.find_element(By.CSS_SELECTOR, "figure.trend[data-series='objects'] svg.sparkline")
    processed_runs = [
        row.get_attribute("data-run-id")
        for row in section.find_elements(By.CSS_SELECTOR, "tr.run")
        if row.find_element(By.CSS_SELECTOR, "td.staged").text.strip().isdigit()
    ]
    points = [p.get_attribute("data-run-id") for p in chart.find_elements(By.CSS_SELECTOR, "circle.point")]
    assert sorted(points) == sorted(processed_runs) and run_id in points, (points, processed_runs)
    assert int(chart.get_attribute("data-points")) == len(points)
    series = {f.get_attribute("data-series") for f in section.find_elements(By.CSS_SELECTOR, "figure.trend")}
    assert {"objects", "failure_rate", "rows_per_object", "job_minutes"} <= series, series
    shot(driver, "08-overview-trends")
