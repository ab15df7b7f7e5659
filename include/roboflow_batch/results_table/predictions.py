"""One record per prediction from a Roboflow result row, whatever the workflow's model.

A result row is ``{<name field>: <file name>, <output>: <value>, ...}`` (video rows add
``frame_number`` and ``timestamp``; CSV cells holding objects or lists are JSON text). Each output
whose value has the shape of a Roboflow model's answer gives its predictions:

- object detection, instance segmentation, keypoint detection: ``{"image": {"width", "height"},
  "predictions": [{"x", "y", "width", "height", "confidence", "class", "class_id",
  "detection_id"} + "points" | "keypoints"]}`` (or the bare list): one record per box;
- classification: ``{"predictions": [{"class", "class_id", "confidence"}], "top", "confidence"}``:
  one record, the top class;
- multi-label classification: ``{"predictions": {<class>: {"confidence", "class_id"}},
  "predicted_classes": [...]}``: one record per predicted class.

A model output without any prediction gives one record with nulls (the image was seen, nothing was
found). Every other output, and any value that does not fit those shapes exactly, is kept whole as
JSON in one ``raw`` record, so nothing of a row is lost. A row with no output at all still gives
one record.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from include.roboflow_batch.export.results import row_name_field

OBJECT_DETECTION = "object-detection"
INSTANCE_SEGMENTATION = "instance-segmentation"
KEYPOINT_DETECTION = "keypoint-detection"
CLASSIFICATION = "classification"
MULTI_LABEL_CLASSIFICATION = "multi-label-classification"
RAW = "raw"
OUTPUT_KINDS = (
    OBJECT_DETECTION,
    INSTANCE_SEGMENTATION,
    KEYPOINT_DETECTION,
    CLASSIFICATION,
    MULTI_LABEL_CLASSIFICATION,
    RAW,
)
DETECTION_KINDS = (OBJECT_DETECTION, INSTANCE_SEGMENTATION, KEYPOINT_DETECTION)
#: Fields of a video row that place it in the video rather than being a workflow output.
FRAME_FIELDS = ("frame_number", "timestamp")


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Keypoint:
    x: float
    y: float
    confidence: float | None
    class_id: int | None
    class_name: str | None


@dataclass(frozen=True, slots=True)
class Prediction:
    """The model-specific columns of one record (every field is null where it does not apply)."""

    output_name: str | None = None
    output_kind: str | None = None
    class_name: str | None = None
    class_id: int | None = None
    confidence: float | None = None
    x: float | None = None
    y: float | None = None
    width: float | None = None
    height: float | None = None
    detection_id: str | None = None
    points: tuple[Point, ...] | None = None
    keypoints: tuple[Keypoint, ...] | None = None
    image_width: int | None = None
    image_height: int | None = None
    raw_json: str | None = None


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One result row: the file it is about, where in a video, and its records (at least one)."""

    source_name: str | None
    frame_number: int | None
    frame_timestamp: float | None
    predictions: list[Prediction]


class _Unfit(Exception):
    """A value that does not have the shape of a model's answer (it is kept as raw JSON)."""


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Unfit
    return float(value)


def _optional_number(value: Any) -> float | None:
    return None if value is None else _number(value)


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Unfit
    return value


def _optional_str(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Unfit
    return value


def _image_size(output: Mapping[str, Any]) -> tuple[int | None, int | None]:
    image = output.get("image")
    if not isinstance(image, dict):
        return None, None
    width, height = image.get("width"), image.get("height")
    return (
        width if isinstance(width, int) and not isinstance(width, bool) else None,
        height if isinstance(height, int) and not isinstance(height, bool) else None,
    )


def _points(value: Any) -> tuple[Point, ...]:
    if not isinstance(value, list):
        raise _Unfit
    return tuple(Point(_number(p["x"]), _number(p["y"])) if isinstance(p, dict) else _fail() for p in value)


def _keypoints(value: Any) -> tuple[Keypoint, ...]:
    if not isinstance(value, list):
        raise _Unfit
    return tuple(
        Keypoint(
            _number(k["x"]),
            _number(k["y"]),
            _optional_number(k.get("confidence")),
            _optional_int(k.get("class_id")),
            _optional_str(k.get("class")),
        )
        if isinstance(k, dict)
        else _fail()
        for k in value
    )


def _fail() -> Any:
    raise _Unfit


def _detections(
    name: str, items: list[Any], size: tuple[int | None, int | None], kind_hint: Any
) -> list[Prediction]:
    width, height = size
    kind = kind_hint if kind_hint in DETECTION_KINDS else OBJECT_DETECTION
    if any(isinstance(item, dict) and "points" in item for item in items):
        kind = INSTANCE_SEGMENTATION
    elif any(isinstance(item, dict) and "keypoints" in item for item in items):
        kind = KEYPOINT_DETECTION
    if not items:
        return [Prediction(output_name=name, output_kind=kind, image_width=width, image_height=height)]
    records = []
    for item in items:
        if not isinstance(item, dict):
            raise _Unfit
        try:
            records.append(
                Prediction(
                    output_name=name,
                    output_kind=kind,
                    class_name=_optional_str(item.get("class")),
                    class_id=_optional_int(item.get("class_id")),
                    confidence=_optional_number(item.get("confidence")),
                    x=_number(item["x"]),
                    y=_number(item["y"]),
                    width=_number(item["width"]),
                    height=_number(item["height"]),
                    detection_id=_optional_str(item.get("detection_id")),
                    points=_points(item["points"]) if "points" in item else None,
                    keypoints=_keypoints(item["keypoints"]) if "keypoints" in item else None,
                    image_width=width,
                    image_height=height,
                )
            )
        except KeyError:
            raise _Unfit from None
    return records


def _classification(name: str, output: Mapping[str, Any], classes: list[Any]) -> list[Prediction]:
    width, height = _image_size(output)
    scored = []
    for item in classes:
        if not isinstance(item, dict) or "x" in item:
            raise _Unfit
        scored.append((_optional_str(item.get("class")), _optional_int(item.get("class_id")), item))
    top = _optional_str(output.get("top"))
    if top is None and scored:
        # The best-scored class when the answer does not name its top one.
        top = max(scored, key=lambda entry: _optional_number(entry[2].get("confidence")) or 0.0)[0]
    if top is None:
        return [
            Prediction(output_name=name, output_kind=CLASSIFICATION, image_width=width, image_height=height)
        ]
    class_id = next((cid for cls, cid, _ in scored if cls == top), None)
    confidence = _optional_number(output.get("confidence"))
    if confidence is None:
        confidence = next((_optional_number(i.get("confidence")) for cls, _, i in scored if cls == top), None)
    return [
        Prediction(
            output_name=name,
            output_kind=CLASSIFICATION,
            class_name=top,
            class_id=class_id,
            confidence=confidence,
            image_width=width,
            image_height=height,
        )
    ]


def _multi_label(name: str, output: Mapping[str, Any], classes: Mapping[str, Any]) -> list[Prediction]:
    width, height = _image_size(output)
    chosen = output.get("predicted_classes")
    if chosen is None:
        chosen = list(classes)
    if not isinstance(chosen, list):
        raise _Unfit
    records = []
    for label in chosen:
        entry = classes.get(label) if isinstance(label, str) else None
        if not isinstance(entry, dict):
            raise _Unfit
        records.append(
            Prediction(
                output_name=name,
                output_kind=MULTI_LABEL_CLASSIFICATION,
                class_name=label,
                class_id=_optional_int(entry.get("class_id")),
                confidence=_optional_number(entry.get("confidence")),
                image_width=width,
                image_height=height,
            )
        )
    return records or [
        Prediction(
            output_name=name, output_kind=MULTI_LABEL_CLASSIFICATION, image_width=width, image_height=height
        )
    ]


def _model_predictions(name: str, value: Any) -> list[Prediction] | None:
    """The predictions of one output, or None when it is not a model's answer."""
    try:
        if isinstance(value, list):
            if value and all(isinstance(item, dict) and "x" in item for item in value):
                return _detections(name, value, (None, None), None)
            return None
        if not isinstance(value, dict) or "predictions" not in value:
            return None
        predictions = value["predictions"]
        if isinstance(predictions, dict):
            return _multi_label(name, value, predictions)
        if not isinstance(predictions, list):
            return None
        is_classification = "top" in value or value.get("prediction_type") == CLASSIFICATION
        if is_classification or (predictions and all(_is_class_score(p) for p in predictions)):
            return _classification(name, value, predictions)
        return _detections(name, predictions, _image_size(value), value.get("prediction_type"))
    except _Unfit:
        return None


def _is_class_score(item: Any) -> bool:
    return isinstance(item, dict) and "class" in item and "x" not in item


def _decoded(value: Any) -> Any:
    """CSV cells hold objects and lists as JSON text."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _frame_number(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _frame_timestamp(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def read_result_row(row: Mapping[str, Any], name_field: str | None = None) -> ResultRow:
    """The records of one result row (a CSV row's cells or a JSONL line's object)."""
    named_by = row_name_field(row, name_field)
    predictions: list[Prediction] = []
    raw: dict[str, Any] = {}
    for key, cell in row.items():
        if key == named_by or key in FRAME_FIELDS:
            continue
        value = _decoded(cell)
        found = _model_predictions(key, value)
        if found is None:
            raw[key] = value
        else:
            predictions.extend(found)
    if raw or not predictions:
        predictions.append(
            Prediction(output_kind=RAW, raw_json=json.dumps(raw, ensure_ascii=False)) if raw else Prediction()
        )
    return ResultRow(
        source_name=None if named_by is None else row[named_by],
        frame_number=_frame_number(row.get("frame_number")),
        frame_timestamp=_frame_timestamp(row.get("timestamp")),
        predictions=predictions,
    )
