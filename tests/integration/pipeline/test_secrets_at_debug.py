"""A whole pipeline run at DEBUG: the API key and URL signatures are in no log line, XCom, rendered
field or manifest."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from include.devstack.connections import DEMO_API_KEY
from include.devstack.sample_media import sample_images, seed_s3
from tests.integration.pipeline.conftest import PipelineRun, object_store_pipeline

pytestmark = pytest.mark.integration

SIGNATURE = re.compile(r"(?i)(X-Amz-Signature|X-Goog-Signature|X-Emulator-Signature)=[0-9a-f]{8,}")


def _test_supervisor_mask_request(line: str) -> bool:
    """Airflow's in-process supervisor of ``dag.test()`` logs, at DEBUG, the request by which fetching
    a connection registers its password with the secrets masker. Deployments run the real supervisor,
    which logs that request without its body (the task-log check of tests/integration/hooks runs a
    real stack at DEBUG); the project itself never sends it (the hook relies on the fetch's masking).
    """
    return "Sending request" in line and "msg=MaskSecret(" in line


@pytest.fixture
def debug_output() -> Iterator[io.StringIO]:
    """Every log line of the run (Airflow's structlog and stdlib), at DEBUG."""
    from airflow.sdk.log import configure_logging, reset_logging

    stream = io.StringIO()
    configure_logging(log_level="DEBUG", output=stream, cache_logger_on_first_use=False)
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        reset_logging()
        configure_logging()


def test_no_key_or_signature_in_any_log_line_xcom_or_rendered_field_at_debug(
    run_pipeline: Callable[..., PipelineRun], moto_server: Any, tmp_path: Path, debug_output: io.StringIO
) -> None:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    seed_s3(moto_server.url, "it-s3-debug", "cams/", sample_images(2, prefix="dbg", seed=61))
    pipeline = object_store_pipeline("it_s3_debug", "s3", "it-s3-debug", "cams/", tmp_path)

    run = run_pipeline(pipeline)

    assert run.state == "success"
    logs = debug_output.getvalue()
    assert "debug" in logs.lower()  # the run really logged at DEBUG
    with create_session() as session:
        rendered = [
            json.dumps(row.rendered_fields, default=str)
            for row in session.query(RenderedTaskInstanceFields).filter_by(
                dag_id=run.dag_run.dag_id, run_id=run.dag_run.run_id
            )
        ]
    assert rendered
    places = {
        "logs": logs,
        "xcom": json.dumps(run.tasks, default=str),
        "rendered fields": "\n".join(rendered),
        "manifest": json.dumps(run.manifest),
    }
    for place, text in places.items():
        leaks = [
            line.replace(DEMO_API_KEY, "<KEY>")[:400]
            for line in text.splitlines()
            if DEMO_API_KEY in line and not _test_supervisor_mask_request(line)
        ]
        assert leaks == [], place
        assert not SIGNATURE.search(text), place
