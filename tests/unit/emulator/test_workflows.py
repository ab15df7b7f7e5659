"""The built-in workflows answer in Roboflow's output shapes, computed from the image bytes."""

from __future__ import annotations

from typing import Any

import pytest

from include.devstack.sample_media import draw_bright_spot
from include.roboflow_emulator.workflows import WorkflowError, resolve_workflow
from tests.unit.emulator.conftest import png

# A 64x48 frame with a 16x16 white square centred at (40, 20): the grid (at most 64 cells a side)
# is the image itself, so every edge is exact.
SPOT_IMAGE = draw_bright_spot(64, 48, (40, 20, 16, 16))


def run(workflow_id: str, content: bytes, **params: Any) -> dict[str, Any]:
    workflow = resolve_workflow(workflow_id, params, None, persist_images=False, outputs_to_persist=None)
    [row] = workflow.process_image("frame.png", content).rows
    assert row["file_name"] == "frame.png"
    return row["predictions"]


@pytest.mark.parametrize(
    "workflow_id", ["bright-spot-detector", "bright-spot-segmenter", "bright-spot-keypoints"]
)
def test_spot_workflows_share_one_box_per_bright_region(workflow_id: str) -> None:
    output = run(workflow_id, SPOT_IMAGE)

    assert output["image"] == {"width": 64, "height": 48}
    [spot] = output["predictions"]
    box = {key: spot[key] for key in ("x", "y", "width", "height", "class", "class_id")}
    assert box == {"x": 40.0, "y": 20.0, "width": 16.0, "height": 16.0, "class": "bright-spot", "class_id": 0}
    assert spot["confidence"] == 1.0 and spot["detection_id"]


def test_the_segmenter_outlines_each_region_with_a_polygon() -> None:
    [spot] = run("bright-spot-segmenter", SPOT_IMAGE)["predictions"]

    corners = {(point["x"], point["y"]) for point in spot["points"]}
    assert corners == {(32.0, 12.0), (48.0, 12.0), (48.0, 28.0), (32.0, 28.0)}


def test_the_keypoint_workflow_marks_each_region_centre_and_peak() -> None:
    [spot] = run("bright-spot-keypoints", SPOT_IMAGE)["predictions"]

    centre, peak = spot["keypoints"]
    assert (centre["class"], centre["class_id"], centre["x"], centre["y"]) == ("centre", 0, 40.0, 20.0)
    # The first of the equally bright cells, read row by row: the square's top-left pixel.
    assert (peak["class"], peak["class_id"], peak["x"], peak["y"]) == ("peak", 1, 32.5, 12.5)
    assert peak["confidence"] == 1.0


@pytest.mark.parametrize(
    ("colour", "top"), [((10, 10, 10), "dark"), ((128, 128, 128), "medium"), ((240, 240, 240), "bright")]
)
def test_the_classifier_labels_images_by_brightness(colour: tuple[int, int, int], top: str) -> None:
    output = run("brightness-classifier", png(8, 8, colour))

    assert output["top"] == top and output["prediction_type"] == "classification"
    assert output["confidence"] == output["predictions"][0]["confidence"] > 0.5
    assert output["predictions"][0]["class"] == top
    assert sorted(p["class_id"] for p in output["predictions"]) == [0, 1, 2]
    assert abs(sum(p["confidence"] for p in output["predictions"]) - 1) < 1e-3


def test_an_unknown_workflow_names_the_built_in_ones() -> None:
    with pytest.raises(WorkflowError, match="brightness-classifier"):
        resolve_workflow("no-such-flow", None, None, persist_images=False, outputs_to_persist=None)
