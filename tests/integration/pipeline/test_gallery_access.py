"""The gallery shows a run's own images only, read by the server, and refuses everything else.

Real runs of two local-directory pipelines (``dag.test()``), then the Roboflow view's app is asked,
as a user who may read only the first pipeline, for: one of its run's images (sent), an object of
its other run, of the other DAG, outside the window, outside the directory (a path and a link), and
an oversized image. Every refusal carries none of the object's bytes.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from include.devstack.sample_media import sample_images, write_files
from tests.integration.pipeline.conftest import PipelineRun

pytestmark = pytest.mark.integration

LIMIT = 4096  # bytes the view sends at most in this test (ROBOFLOW_VIEW_MAX_IMAGE_BYTES)


def local_pipeline(pipeline_id: str, directory: Path, out: Path) -> dict[str, Any]:
    return {
        "id": pipeline_id,
        "source": {"kind": "local", "directory": str(directory), "state_directory": str(out / "state")},
        "workflow": {"id": "bright-spot-detector"},
        "export": {
            "destination": str(out / "results" / "{pipeline}" / "{interval_start:%Y%m%dT%H%M%S%f}") + "/"
        },
    }


def noisy_png(name: str, side: int = 96) -> tuple[str, bytes]:
    """A PNG that does not compress: larger than ``LIMIT``."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, format="PNG")
    return name, buffer.getvalue()


def window_params(start: datetime, end: datetime) -> dict[str, str]:
    return {"window_start": start.isoformat(), "window_end": end.isoformat()}


@pytest.fixture
def view_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[set[str]], Any]]:
    """The view's app in-process, as a logged-in user who may read the given DAGs."""
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from include.roboflow_batch.webui import app as view

    monkeypatch.setenv("ROBOFLOW_VIEW_MAX_IMAGE_BYTES", str(LIMIT))
    clients = []

    def client(readable: set[str]) -> Any:
        monkeypatch.setattr(view, "readable_dag_ids", lambda user: readable)
        application = view.create_view_app()
        application.dependency_overrides[get_user] = lambda: object()
        clients.append(TestClient(application))
        return clients[-1]

    yield client
    for each in clients:
        each.close()


def test_the_gallery_serves_only_its_runs_images_and_refuses_the_rest(
    run_pipeline: Callable[..., PipelineRun], view_client: Callable[[set[str]], Any], tmp_path: Path
) -> None:
    cams, other = tmp_path / "cams", tmp_path / "other"
    began = datetime.now(UTC) - timedelta(seconds=1)
    [first, second] = write_files(cams, sample_images(2, prefix="first", seed=31))
    (cams / "big.png").write_bytes(noisy_png("big.png")[1])
    outside = write_files(tmp_path / "outside", sample_images(1, prefix="secret", seed=32))[0]
    (cams / "link.png").symlink_to(outside)
    between = datetime.now(UTC)
    [later] = write_files(cams, sample_images(1, prefix="later", seed=33))
    [theirs] = write_files(other, sample_images(1, prefix="theirs", seed=34))
    ended = datetime.now(UTC) + timedelta(seconds=1)

    cams_pipeline = local_pipeline("gal_cams", cams, tmp_path / "a")
    run = run_pipeline(cams_pipeline, conf=window_params(began, between))
    next_run = run_pipeline(cams_pipeline, conf=window_params(between, ended))
    their_run = run_pipeline(
        local_pipeline("gal_other", other, tmp_path / "b"), conf=window_params(began, ended)
    )
    for each in (run, next_run, their_run):
        assert each.state == "success", each.tasks

    client = view_client({"roboflow_gal_cams"})
    base = f"/runs/roboflow_gal_cams/{run.dag_run.run_id}/media"

    def refused(url: str, key: str, secret: bytes, status: int) -> None:
        response = client.get(url, params={"key": key})
        assert response.status_code == status, (key, response.status_code, response.text)
        assert secret not in response.content and b"\x89PNG" not in response.content

    # The run's own image: its bytes, from the server, as an image that is not sniffed or scripted.
    sent = client.get(base, params={"key": first.name})
    assert sent.status_code == 200 and sent.content == first.read_bytes()
    assert sent.headers["content-type"] == "image/png"
    assert sent.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in sent.headers["content-security-policy"]

    # An object of this pipeline's next run, and of the other DAG (listed in their manifests only).
    refused(base, later.name, later.read_bytes(), 404)
    refused(base, theirs.name, theirs.read_bytes(), 404)
    # The other DAG itself, which this user may not read.
    refused(
        f"/runs/roboflow_gal_other/{their_run.dag_run.run_id}/media", theirs.name, theirs.read_bytes(), 404
    )
    # Outside the window and the directory: a path that climbs out, an absolute one, a link out.
    secret = outside.read_bytes()
    for key in ("../outside/secret-000.png", str(outside), "outside/secret-000.png"):
        refused(base, key, secret, 404)
    refused(base, "link.png", secret, 404)
    # Larger than the view sends: refused on its size, before a byte is read.
    refused(base, "big.png", (cams / "big.png").read_bytes(), 413)
    # The image page and the gallery follow the same list.
    assert (
        client.get(
            f"/runs/roboflow_gal_cams/{run.dag_run.run_id}/image", params={"key": later.name}
        ).status_code
        == 404
    )
    gallery = client.get(f"/api/runs/roboflow_gal_cams/{run.dag_run.run_id}/gallery").json()
    assert {item["source_key"] for item in gallery["items"]} == {
        first.name,
        second.name,
        "big.png",
        "link.png",
    }
