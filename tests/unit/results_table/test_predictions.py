"""Result rows of every Roboflow output shape become one record per prediction, losing nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from include.roboflow_batch.results_table.predictions import (
    CLASSIFICATION,
    INSTANCE_SEGMENTATION,
    KEYPOINT_DETECTION,
    MULTI_LABEL_CLASSIFICATION,
    OBJECT_DETECTION,
    RAW,
    Keypoint,
    Point,
    Prediction,
    read_result_row,
)

IMAGE = {"width": 640, "height": 480}


def box(**extra: Any) -> dict[str, Any]:
    return {
        "x": 10.0,
        "y": 20.0,
        "width": 4.0,
        "height": 6.0,
        "confidence": 0.9,
        "class": "car",
        "class_id": 2,
        "detection_id": "d-1",
        **extra,
    }


def test_each_detected_box_is_one_record() -> None:
    row = {"file_name": "cams__a.png", "predictions": {"image": IMAGE, "predictions": [box(), box(x=30)]}}

    read = read_result_row(row)

    assert read.source_name == "cams__a.png" and read.frame_number is None
    first, second = read.predictions
    assert first == Prediction(
        output_name="predictions",
        output_kind=OBJECT_DETECTION,
        class_name="car",
        class_id=2,
        confidence=0.9,
        x=10.0,
        y=20.0,
        width=4.0,
        height=6.0,
        detection_id="d-1",
        image_width=640,
        image_height=480,
    )
    assert second.x == 30.0


def test_an_image_without_detections_is_one_record_of_nulls() -> None:
    [record] = read_result_row({"file_name": "a.png", "out": {"image": IMAGE, "predictions": []}}).predictions

    assert (record.output_name, record.output_kind, record.class_name, record.x) == (
        "out",
        OBJECT_DETECTION,
        None,
        None,
    )
    assert (record.image_width, record.image_height) == (640, 480)


def test_segmentation_keeps_the_outline_and_keypoints_their_points() -> None:
    outline = [{"x": 1, "y": 2}, {"x": 3, "y": 4}, {"x": 5, "y": 2}]
    keypoints = [{"x": 1, "y": 1, "confidence": 0.5, "class_id": 0, "class": "nose"}]
    segmented = read_result_row({"file_name": "a.png", "seg": {"predictions": [box(points=outline)]}})
    posed = read_result_row({"file_name": "a.png", "pose": {"predictions": [box(keypoints=keypoints)]}})

    [region] = segmented.predictions
    assert region.output_kind == INSTANCE_SEGMENTATION
    assert region.points == (Point(1.0, 2.0), Point(3.0, 4.0), Point(5.0, 2.0))
    [person] = posed.predictions
    assert person.output_kind == KEYPOINT_DETECTION
    assert person.keypoints == (Keypoint(1.0, 1.0, 0.5, 0, "nose"),)


def test_single_label_classification_is_its_top_class() -> None:
    answer = {
        "image": IMAGE,
        "predictions": [
            {"class": "dog", "class_id": 1, "confidence": 0.7},
            {"class": "cat", "class_id": 0, "confidence": 0.3},
        ],
        "top": "dog",
        "confidence": 0.7,
        "prediction_type": "classification",
    }

    [record] = read_result_row({"file_name": "a.png", "predictions": answer}).predictions

    assert (record.output_kind, record.class_name, record.class_id, record.confidence) == (
        CLASSIFICATION,
        "dog",
        1,
        0.7,
    )
    assert record.x is None


def test_multi_label_classification_is_one_record_per_predicted_class() -> None:
    answer = {
        "predictions": {"cat": {"confidence": 0.8, "class_id": 0}, "dog": {"confidence": 0.2, "class_id": 1}},
        "predicted_classes": ["cat"],
    }

    [record] = read_result_row({"file_name": "a.png", "tags": answer}).predictions

    assert (record.output_kind, record.class_name, record.class_id, record.confidence) == (
        MULTI_LABEL_CLASSIFICATION,
        "cat",
        0,
        0.8,
    )


def test_csv_cells_hold_json_and_video_rows_their_frame() -> None:
    cell = json.dumps({"image": IMAGE, "predictions": [box()]})

    read = read_result_row({"file_name": "clip.mp4", "frame_number": "12", "timestamp": "0.4", "p": cell})

    assert (read.frame_number, read.frame_timestamp) == (12, 0.4)
    assert read.predictions[0].class_name == "car"


def test_outputs_without_columns_are_kept_whole_as_json() -> None:
    row = {"file_name": "a.png", "width": 96, "mean_rgb": [1, 2, 3], "det": {"predictions": [box()]}}

    read = read_result_row(row)

    detection, raw = read.predictions
    assert detection.output_kind == OBJECT_DETECTION
    assert raw.output_kind == RAW and json.loads(raw.raw_json or "") == {"width": 96, "mean_rgb": [1, 2, 3]}


@pytest.mark.parametrize(
    "value",
    [
        {"predictions": [box(x="10")]},  # a coordinate that is not a number
        {"predictions": [box(confidence=True)]},  # a boolean is not a confidence
        {"predictions": [{"y": 1, "x": 2}]},  # no box size
        {"predictions": [box(points=[{"x": 1}])]},  # a point without y
        {"predictions": [box(keypoints="nose")]},  # keypoints that are not a list
        {"predictions": [box(x=float("nan"))]},
        {"predictions": [box(), "garbage"]},
        {"predictions": {"cat": 0.9}, "predicted_classes": ["cat"]},
        {"predictions": "none"},
    ],
)
def test_a_value_that_does_not_fit_a_shape_is_kept_as_raw_json(value: dict[str, Any]) -> None:
    [record] = read_result_row({"file_name": "a.png", "out": value}).predictions

    assert record.output_kind == RAW
    assert record.raw_json is not None and json.loads(record.raw_json) == json.loads(
        json.dumps({"out": value})
    )


def test_a_row_without_outputs_or_name_still_counts() -> None:
    read = read_result_row({"file_name": "a.png"})
    unnamed = read_result_row({"predictions": {"predictions": [box()]}})

    assert read.predictions == [Prediction()]
    assert unnamed.source_name is None and unnamed.predictions[0].class_name == "car"
