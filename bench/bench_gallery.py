"""The gallery of a run on the emulator stack: its Roboflow tab with 24 images drawn, and those 24
images streamed by the view (checked against the run's manifest, stat, read through the pipeline's
S3 connection), one after the other, in-process, against reading the same 24 objects straight from
the bucket (moto) with the same connection. A window of 40 images of 640x480 (``dag.test()`` in a
fresh metadata DB, child process ``bench/gallery_child.py``). Target: the page and its 24 images in
under 1 s.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench import result
from bench.children import child_result, fresh_airflow_env

IMAGES = 40
TARGET_MS = 1000.0


def run() -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-gallery-") as workdir:
        env = fresh_airflow_env(Path(workdir))
        measured = child_result("bench.gallery_child", workdir, IMAGES, env=env)
    detail = (
        f"{IMAGES} images of 640x480 in the window, {measured['images']} shown; the tab alone "
        f"{measured['page_ms']:.0f} ms; sequential requests in-process (a browser fetches in parallel); "
        "medians of 5"
    )
    return [
        result(
            "gallery",
            "run tab with 24 images and the 24 images (ms, lower is better; baseline: the objects read "
            "straight from the bucket)",
            measured["gallery_ms"],
            "ms",
            baseline=measured["bucket_ms"],
            baseline_name="24 reads from S3",
            target=f"< {TARGET_MS:.0f} ms",
            met=measured["gallery_ms"] < TARGET_MS,
            detail=detail,
        )
    ]
