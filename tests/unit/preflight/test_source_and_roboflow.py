"""The source lists and its signed URLs are fetched like Roboflow would; the key, the plan and the
credits of the workspace, asked of an in-process emulator."""

from __future__ import annotations

import http.server
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from include.devstack.loopback import serving
from include.roboflow_batch.api.client import RoboflowClient
from include.roboflow_batch.api.jobs import WorkflowJobSpec
from include.roboflow_batch.preflight.report import PreflightReport
from include.roboflow_batch.preflight.roboflow import check_roboflow
from include.roboflow_batch.preflight.source import check_source
from include.roboflow_batch.references.expiry import EffectiveExpiry
from include.roboflow_batch.references.objects import StoredObject
from include.roboflow_batch.references.window import SelectionWindow
from include.roboflow_emulator.app import Emulator
from include.roboflow_emulator.config import EmulatorConfig

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


class Probe:
    """A source of three objects whose signed URLs point at a loopback server."""

    def __init__(self, base: str, objects: list[StoredObject], fail_listing: bool = False) -> None:
        self.base, self.objects, self.fail_listing = base, objects, fail_listing
        self.signed: list[str] = []
        self.source_uri = "s3://frames/incoming/"

    def credentials_expire_at(self) -> datetime | None:
        return None

    def iter_objects(self) -> Iterator[StoredObject]:
        if self.fail_listing:
            raise PermissionError("AccessDenied: ListObjectsV2")
        return iter(self.objects)

    def make_signer(self, expiry: EffectiveExpiry) -> Any:
        assert expiry.seconds <= 15 * 60

        def sign(key: str) -> str:
            self.signed.append(key)
            return f"{self.base}/{key}?X-Amz-Signature=secret"

        return sign


class Objects(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        status = 403 if "forbidden" in path else (206 if self.headers.get("Range") == "bytes=0-0" else 200)
        self.send_response(status)
        self.send_header("Content-Length", "1")
        self.end_headers()
        self.wfile.write(b"x")

    def log_message(self, *args: Any) -> None:
        return None


def objects(*keys: str, age: timedelta = timedelta(minutes=5)) -> list[StoredObject]:
    return [StoredObject(key, 100, NOW - age) for key in keys]


WINDOW = SelectionWindow(NOW - timedelta(hours=1), NOW)


def run(probe: Probe, private: str = "warn", sample: int = 2) -> list[Any]:
    return check_source(
        probe,
        conn_id="aws_default",
        media_type="images",
        window=WINDOW,
        sample_urls=sample,
        private_endpoints=private,
    )


def test_window_objects_are_signed_and_fetched_and_a_private_endpoint_is_named() -> None:
    with serving(Objects) as base:
        probe = Probe(
            base,
            [*objects("old.jpg", age=timedelta(days=2)), *objects("notes.txt", "a.jpg", "b.png", "c.jpg")],
        )
        listable, fetchable = run(probe, private="warn")
        assert listable.status == "ok"
        assert probe.signed == ["a.jpg", "b.png"]  # the window's images, not the old one nor the text file
        assert fetchable.status == "warning" and "loopback address (127.0.0.1)" in fetchable.message
        assert "fetchable from here" in fetchable.message and "secret" not in fetchable.message
        (_, refused) = run(Probe(base, objects("a.jpg")), private="fail")
        assert refused.status == "failed" and "preflight.private_endpoints: warn" in str(refused.fix)


def test_a_refused_url_and_an_unlistable_source_fail_with_their_fix() -> None:
    with serving(Objects) as base:
        (_, refused) = run(Probe(base, objects("forbidden.jpg")), private="warn")
        assert refused.status == "warning" and "not even fetchable from here" in refused.message
        (failed,) = run(Probe(base, [], fail_listing=True))
        assert failed.check == "source-listable" and failed.status == "failed"
        assert "AccessDenied" in failed.message and "connection 'aws_default'" in str(failed.fix)
        (_, nothing) = run(Probe(base, objects("readme.md")))
        assert nothing.status == "skipped"


def test_other_objects_of_the_source_stand_in_when_the_window_shows_none() -> None:
    with serving(Objects) as base:
        probe = Probe(base, objects("old.jpg", age=timedelta(days=3)))
        (_, fetchable) = run(probe)
        assert (
            probe.signed == ["old.jpg"] and "none of the window among the first listed" in fetchable.message
        )


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    instance = Emulator(
        EmulatorConfig(port=0, ingest_delay=0.05, stage_delay=0.05, no_batch_processing_keys=("basic-key",))
    ).start()
    yield instance
    instance.stop()


def client(emulator: Emulator, key: str = "test-api-key", **kwargs: Any) -> RoboflowClient:
    return RoboflowClient(emulator.url, key, max_retries=0, **kwargs)


def test_the_key_and_batch_processing_of_the_workspace(emulator: Emulator) -> None:
    (bad,) = check_roboflow(client(emulator, "wrong-key"), "roboflow_default", None)
    assert bad.check == "roboflow-key" and bad.status == "failed" and "401" in bad.message
    ok_key, no_plan = check_roboflow(client(emulator, "basic-key"), "roboflow_default", None)
    assert ok_key.status == "ok" and no_plan.check == "batch-processing" and no_plan.status == "failed"
    assert "Growth or Enterprise" in str(no_plan.fix)
    (mismatch,) = check_roboflow(client(emulator, workspace="other-ws"), "roboflow_default", None)
    assert mismatch.status == "failed" and "belongs to workspace 'demo-workspace'" in mismatch.message


def test_credits_are_asked_with_a_repeat_of_an_earlier_job_and_nothing_is_created(emulator: Emulator) -> None:
    api = client(emulator)
    *_, first = check_roboflow(api, "roboflow_default", None)
    assert first.check == "credits" and first.status == "skipped"
    api.upload_image("b1", "a.png", _png())
    body = WorkflowJobSpec(batch_id="b1", workflow_id="image-stats").to_body("demo-workspace")
    api.create_job("earlier", body)
    deadline = time.monotonic() + 20
    while not api.get_job("earlier").is_terminal and time.monotonic() < deadline:
        time.sleep(0.05)
    digest = emulator.store.digest()
    *_, credits = check_roboflow(api, "roboflow_default", "earlier")
    assert credits.status == "ok" and emulator.store.job_creations["earlier"] == 1
    emulator.switches.update({"creditsExhausted": True})
    *_, broke = check_roboflow(api, "roboflow_default", "earlier")
    assert broke.status == "failed" and "no credits left" in broke.message and "billing" in str(broke.fix)
    *_, gone = check_roboflow(api, "roboflow_default", "never-existed")
    assert gone.status == "skipped"
    assert emulator.store.digest() == digest  # asking created and changed nothing


def test_the_report_names_the_pipeline_the_check_and_the_fix() -> None:
    from include.roboflow_batch.preflight.report import CheckResult

    report = PreflightReport("cams")
    report.add(
        CheckResult("source-listable", "ok", "fine."),
        CheckResult("credits", "failed", "none left.", "add some."),
    )
    assert not report.passed
    assert report.failure_message() == (
        "pipeline cams: 1 pre-flight check failed; nothing was staged or spent:\n"
        "  - credits: none left. Fix: add some."
    )
    assert report.to_dict()["checks"][1]["status"] == "failed"


def _png() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(buffer, format="PNG")
    return buffer.getvalue()
