"""Built-in workflows: real, deterministic results computed from the image bytes.

- `image-stats`: `{width, height, mean_rgb, brightness, sha256}`; image output `preview`.
- `bright-spot-detector`: output `predictions` in Roboflow's object-detection shape (connected
  regions at or above `threshold` on a grey-scale grid of at most `grid` cells a side);
  image output `visualization`. Parameters: `threshold` (0-255, default 200), `grid`
  (8-256, default 64), `max_detections` (default 100).
- `bright-spot-segmenter`: the same regions in the instance-segmentation shape: each prediction
  adds `points`, the region's outline (convex hull of its grid cells) in pixels.
- `bright-spot-keypoints`: the same regions in the keypoint-detection shape: each prediction adds
  `keypoints`, its `centre` (class id 0) and its brightest cell, `peak` (class id 1).
- `brightness-classifier`: single-label classification by mean brightness (`dark`, `medium`,
  `bright`): `{image, predictions: [{class, class_id, confidence}], top, confidence,
  prediction_type}`; no image output, no parameters.

Every workflow has one image input named `image`. Videos are decoded with PyAV and sampled at
`maxVideoFPS`; each sampled frame gives a row with `frame_number` and `timestamp`.
"""

from __future__ import annotations

import hashlib
import io
import math
import operator
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageDraw

IMAGE_INPUT_NAME = "image"
_LEVELS = range(256)
DETECTION_NAMESPACE = uuid.UUID("6f1c2b0e-8d1a-4c0b-9a57-5d2f1e3c7a90")


class WorkflowError(Exception):
    """The job cannot run this workflow at all (unknown id, bad parameters, wrong input name)."""


class FileProcessingError(Exception):
    """One input file could not be processed (counts towards `maxImageFailureRate`)."""


@dataclass
class FileResult:
    rows: list[dict[str, Any]]
    image_outputs: list[tuple[str, str, bytes]] = field(default_factory=list)  # (output, file name, jpeg)


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def _band_means(image: Image.Image) -> list[float]:
    """Per-band mean pixel value from the histogram (ImageStat does the same sums far slower)."""
    histogram, pixels = image.histogram(), image.width * image.height
    return [
        sum(map(operator.mul, _LEVELS, histogram[i : i + 256])) / pixels
        for i in range(0, len(histogram), 256)
    ]


def _image_stats(
    image: Image.Image, digest: str, _params: dict[str, Any], wanted: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    rgb = image.convert("RGB")
    outputs = {
        "width": rgb.width,
        "height": rgb.height,
        "mean_rgb": [round(v, 3) for v in _band_means(rgb)],
        "brightness": round(_band_means(rgb.convert("L"))[0], 3),
        "sha256": digest,
    }
    if "preview" not in wanted:
        return outputs, {}
    preview = rgb.copy()
    preview.thumbnail((128, 128))
    return outputs, {"preview": preview}


def _components(pixels: list[int], width: int, height: int, threshold: int) -> list[list[int]]:
    """4-connected regions of pixels >= threshold, as lists of flat indices."""
    seen = bytearray(width * height)
    regions: list[list[int]] = []
    for start, value in enumerate(pixels):
        if value < threshold or seen[start]:
            continue
        seen[start] = 1
        stack, region = [start], []
        while stack:
            index = stack.pop()
            region.append(index)
            x, y = index % width, index // width
            for nx, ny in ((x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)):
                if 0 <= nx < width and 0 <= ny < height:
                    neighbour = ny * width + nx
                    if not seen[neighbour] and pixels[neighbour] >= threshold:
                        seen[neighbour] = 1
                        stack.append(neighbour)
        regions.append(region)
    return regions


@dataclass(frozen=True)
class _Spot:
    """One bright region: its grid cells, box and peak in image pixels, and its mean brightness."""

    cells: list[tuple[int, int]]
    scale: tuple[float, float]  # image pixels per grid cell, across and down
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    peak: tuple[float, float, int]  # x, y, grey level of the brightest cell
    confidence: float


def _spots(image: Image.Image, params: dict[str, Any]) -> list[_Spot]:
    """The largest bright regions (at most ``max_detections``), found on a grid of at most ``grid`` cells."""
    threshold, grid, max_detections = params["threshold"], params["grid"], params["max_detections"]
    small = image.convert("L")
    small.thumbnail((grid, grid))
    pixels = list(small.getdata())
    width = small.width
    sx, sy = image.width / width, image.height / small.height
    regions = _components(pixels, width, small.height, threshold)
    regions.sort(key=lambda r: (-len(r), min(r)))
    spots = []
    for region in regions[:max_detections]:
        cells = [(i % width, i // width) for i in region]
        xs, ys = [x for x, _ in cells], [y for _, y in cells]
        brightest = max(region, key=lambda i: (pixels[i], -i))
        spots.append(
            _Spot(
                cells=cells,
                scale=(sx, sy),
                box=(min(xs) * sx, min(ys) * sy, (max(xs) + 1) * sx, (max(ys) + 1) * sy),
                peak=((brightest % width + 0.5) * sx, (brightest // width + 0.5) * sy, pixels[brightest]),
                confidence=round(sum(pixels[i] for i in region) / len(region) / 255, 4),
            )
        )
    return spots


def _detection(spot: _Spot, digest: str, number: int) -> dict[str, Any]:
    """Roboflow's object-detection prediction: box centre and size in pixels, class, confidence, id."""
    x0, y0, x1, y1 = spot.box
    return {
        "x": round((x0 + x1) / 2, 2),
        "y": round((y0 + y1) / 2, 2),
        "width": round(x1 - x0, 2),
        "height": round(y1 - y0, 2),
        "confidence": spot.confidence,
        "class": "bright-spot",
        "class_id": 0,
        "detection_id": str(uuid.uuid5(DETECTION_NAMESPACE, f"{digest}:{number}")),
    }


def _outline(spot: _Spot) -> list[dict[str, float]]:
    """The convex hull of the region's cell corners (monotone chain), in image pixels."""
    sx, sy = spot.scale
    corners = sorted({(x + dx, y + dy) for x, y in spot.cells for dx in (0, 1) for dy in (0, 1)})

    def cross(o: tuple[int, int], a: tuple[int, int], b: tuple[int, int]) -> int:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def half(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
        chain: list[tuple[int, int]] = []
        for point in points:
            while len(chain) >= 2 and cross(chain[-2], chain[-1], point) <= 0:
                chain.pop()
            chain.append(point)
        return chain[:-1]

    hull = half(corners) + half(corners[::-1])
    return [{"x": round(x * sx, 2), "y": round(y * sy, 2)} for x, y in hull]


def _detections_output(image: Image.Image, predictions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"predictions": predictions, "image": {"width": image.width, "height": image.height}}


def _visualization(image: Image.Image, predictions: list[dict[str, Any]]) -> Image.Image:
    visual = image.convert("RGB")
    draw = ImageDraw.Draw(visual)
    for p in predictions:
        half_w, half_h = p["width"] / 2, p["height"] / 2
        draw.rectangle(
            (p["x"] - half_w, p["y"] - half_h, p["x"] + half_w, p["y"] + half_h), outline=(255, 0, 0)
        )
        if "points" in p:
            draw.polygon([(q["x"], q["y"]) for q in p["points"]], outline=(0, 255, 0))
        for keypoint in p.get("keypoints", []):
            draw.point((keypoint["x"], keypoint["y"]), fill=(0, 0, 255))
    return visual


def _bright_spots(
    image: Image.Image, digest: str, params: dict[str, Any], wanted: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    predictions = [_detection(spot, digest, n) for n, spot in enumerate(_spots(image, params))]
    images = {"visualization": _visualization(image, predictions)} if "visualization" in wanted else {}
    return {"predictions": _detections_output(image, predictions)}, images


def _bright_regions(
    image: Image.Image, digest: str, params: dict[str, Any], wanted: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Instance segmentation: each bright spot's box and its outline polygon (``points``)."""
    predictions = [
        {**_detection(spot, digest, n), "points": _outline(spot)}
        for n, spot in enumerate(_spots(image, params))
    ]
    images = {"visualization": _visualization(image, predictions)} if "visualization" in wanted else {}
    return {"predictions": _detections_output(image, predictions)}, images


KEYPOINT_CLASSES = ("centre", "peak")


def _bright_keypoints(
    image: Image.Image, digest: str, params: dict[str, Any], wanted: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keypoint detection: each bright spot's box with two keypoints, its centre and its brightest cell."""
    predictions = []
    for number, spot in enumerate(_spots(image, params)):
        detection = _detection(spot, digest, number)
        peak_x, peak_y, level = spot.peak
        points = ((detection["x"], detection["y"], spot.confidence), (peak_x, peak_y, level / 255))
        detection["keypoints"] = [
            {"x": round(x, 2), "y": round(y, 2), "confidence": round(c, 4), "class_id": i, "class": name}
            for i, (name, (x, y, c)) in enumerate(zip(KEYPOINT_CLASSES, points, strict=True))
        ]
        predictions.append(detection)
    images = {"visualization": _visualization(image, predictions)} if "visualization" in wanted else {}
    return {"predictions": _detections_output(image, predictions)}, images


BRIGHTNESS_CLASSES = (("dark", 40.0), ("medium", 128.0), ("bright", 215.0))


def _brightness_class(
    image: Image.Image, _digest: str, _params: dict[str, Any], _wanted: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Single-label classification by mean brightness, in Roboflow's classification shape."""
    brightness = _band_means(image.convert("L"))[0]
    weights = [math.exp(-abs(brightness - centre) / 32) for _, centre in BRIGHTNESS_CLASSES]
    total = sum(weights)
    ranked = sorted(
        (
            (round(weight / total, 4), index, name)
            for index, ((name, _), weight) in enumerate(zip(BRIGHTNESS_CLASSES, weights, strict=True))
        ),
        key=lambda entry: (-entry[0], entry[1]),
    )
    scored = [{"class": name, "class_id": index, "confidence": score} for score, index, name in ranked]
    top = scored[0]
    output = {
        "image": {"width": image.width, "height": image.height},
        "predictions": scored,
        "top": top["class"],
        "confidence": top["confidence"],
        "prediction_type": "classification",
    }
    return {"predictions": output}, {}


def _int_param(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise WorkflowError(
            f"workflowParameters.{name} must be a number between {low} and {high}, got {value!r}."
        )
    return int(value)


ImageFunction = Callable[
    [Image.Image, str, dict[str, Any], tuple[str, ...]], tuple[dict[str, Any], dict[str, Image.Image]]
]


@dataclass
class Workflow:
    workflow_id: str
    function: ImageFunction
    parameters: dict[str, Any]
    image_outputs: tuple[str, ...]
    persist: tuple[str, ...] = ()

    def _run(self, image: Image.Image, digest: str) -> tuple[dict[str, Any], dict[str, Image.Image]]:
        return self.function(image, digest, self.parameters, self.persist)

    def process_image(self, file_name: str, content: bytes) -> FileResult:
        try:
            with Image.open(io.BytesIO(content)) as opened:
                opened.load()
                image = opened.copy()
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise FileProcessingError(f"Could not decode image {file_name!r}: {exc}") from exc
        outputs, images = self._run(image, hashlib.sha256(content).hexdigest())
        stem = file_name.rsplit(".", 1)[0]
        return FileResult(
            [{"file_name": file_name, **outputs}],
            [(name, f"{stem}-{name}.jpg", _jpeg(img)) for name, img in images.items()],
        )

    def process_video(self, file_name: str, content: bytes, max_fps: float | None) -> FileResult:
        import av  # imported lazily: only video jobs pay for it

        result = FileResult(rows=[])
        stem = file_name.rsplit(".", 1)[0]
        next_time = 0.0
        try:
            with av.open(io.BytesIO(content), mode="r") as container:
                stream = container.streams.video[0]
                for frame_number, frame in enumerate(container.decode(stream)):
                    timestamp = float(frame.time) if frame.time is not None else frame_number / 30.0
                    if max_fps and timestamp + 1e-6 < next_time:
                        continue
                    if max_fps:
                        next_time += 1.0 / max_fps
                        while next_time <= timestamp:
                            next_time += 1.0 / max_fps
                    image = frame.to_image()
                    outputs, images = self._run(image, hashlib.sha256(image.tobytes()).hexdigest())
                    result.rows.append(
                        {
                            "file_name": file_name,
                            "frame_number": frame_number,
                            "timestamp": round(timestamp, 4),
                        }
                        | outputs
                    )
                    for name, img in images.items():
                        result.image_outputs.append(
                            (name, f"{stem}-{frame_number:06d}-{name}.jpg", _jpeg(img))
                        )
        except (av.error.FFmpegError, IndexError, ValueError) as exc:
            raise FileProcessingError(f"Could not decode video {file_name!r}: {exc}") from exc
        if not result.rows:
            raise FileProcessingError(f"Video {file_name!r} has no decodable frames.")
        return result


# Workflow id -> (function, image outputs). The spot workflows share the spot parameters.
WORKFLOWS: dict[str, tuple[ImageFunction, tuple[str, ...]]] = {
    "image-stats": (_image_stats, ("preview",)),
    "bright-spot-detector": (_bright_spots, ("visualization",)),
    "bright-spot-segmenter": (_bright_regions, ("visualization",)),
    "bright-spot-keypoints": (_bright_keypoints, ("visualization",)),
    "brightness-classifier": (_brightness_class, ()),
}
SPOT_WORKFLOWS = ("bright-spot-detector", "bright-spot-segmenter", "bright-spot-keypoints")


def resolve_workflow(
    workflow_id: str,
    parameters: dict[str, Any] | None,
    image_input_name: str | None,
    persist_images: bool,
    outputs_to_persist: list[str] | None,
) -> Workflow:
    """The built-in workflow for `workflow_id` with validated parameters; WorkflowError otherwise."""
    params = dict(parameters or {})
    if image_input_name not in (None, IMAGE_INPUT_NAME):
        raise WorkflowError(
            f"Workflow {workflow_id!r} has no image input named {image_input_name!r}; "
            f"its image input is {IMAGE_INPUT_NAME!r}."
        )
    if workflow_id not in WORKFLOWS:
        raise WorkflowError(
            f"Workflow {workflow_id!r} not found in the workspace; "
            f"built-in workflows: {', '.join(WORKFLOWS)}."
        )
    function, image_outputs = WORKFLOWS[workflow_id]
    if workflow_id in SPOT_WORKFLOWS:
        params["threshold"] = _int_param(params, "threshold", 200, 0, 255)
        params["grid"] = _int_param(params, "grid", 64, 8, 256)
        params["max_detections"] = _int_param(params, "max_detections", 100, 1, 10_000)
    persist: tuple[str, ...] = ()
    if persist_images:
        wanted = outputs_to_persist or list(image_outputs)
        unknown = [name for name in wanted if name not in image_outputs]
        if unknown:
            raise WorkflowError(
                f"imagesOutputsToBePersisted names {unknown}, which workflow {workflow_id!r} "
                "does not output; "
                f"its image outputs: {list(image_outputs)}."
            )
        persist = tuple(wanted)
    return Workflow(workflow_id, function, params, image_outputs, persist)
