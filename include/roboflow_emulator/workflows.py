"""Built-in workflows: real, deterministic results computed from the image bytes.

- `image-stats`: `{width, height, mean_rgb, brightness, sha256}`; image output `preview`.
- `bright-spot-detector`: output `predictions` in Roboflow's object-detection shape (connected
  regions at or above `threshold` on a grey-scale grid of at most `grid` cells a side);
  image output `visualization`. Parameters: `threshold` (0-255, default 200), `grid`
  (8-256, default 64), `max_detections` (default 100).

Both have one image input named `image`. Videos are decoded with PyAV and sampled at
`maxVideoFPS`; each sampled frame gives a row with `frame_number` and `timestamp`.
"""

from __future__ import annotations

import hashlib
import io
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


def _bright_spots(
    image: Image.Image, digest: str, params: dict[str, Any], wanted: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    threshold, grid, max_detections = params["threshold"], params["grid"], params["max_detections"]
    grey = image.convert("L")
    small = grey.copy()
    small.thumbnail((grid, grid))
    pixels = list(small.getdata())
    sx, sy = image.width / small.width, image.height / small.height
    regions = _components(pixels, small.width, small.height, threshold)
    regions.sort(key=lambda r: (-len(r), min(r)))
    predictions = []
    for number, region in enumerate(regions[:max_detections]):
        xs = [i % small.width for i in region]
        ys = [i // small.width for i in region]
        x0, x1, y0, y1 = min(xs) * sx, (max(xs) + 1) * sx, min(ys) * sy, (max(ys) + 1) * sy
        predictions.append(
            {
                "x": round((x0 + x1) / 2, 2),
                "y": round((y0 + y1) / 2, 2),
                "width": round(x1 - x0, 2),
                "height": round(y1 - y0, 2),
                "confidence": round(sum(pixels[i] for i in region) / len(region) / 255, 4),
                "class": "bright-spot",
                "class_id": 0,
                "detection_id": str(uuid.uuid5(DETECTION_NAMESPACE, f"{digest}:{number}")),
            }
        )
    outputs = {
        "predictions": {"predictions": predictions, "image": {"width": image.width, "height": image.height}}
    }
    if "visualization" not in wanted:
        return outputs, {}
    visual = image.convert("RGB")
    draw = ImageDraw.Draw(visual)
    for p in predictions:
        half_w, half_h = p["width"] / 2, p["height"] / 2
        draw.rectangle(
            (p["x"] - half_w, p["y"] - half_h, p["x"] + half_w, p["y"] + half_h), outline=(255, 0, 0)
        )
    return outputs, {"visualization": visual}


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
    if workflow_id == "image-stats":
        function: ImageFunction = _image_stats
        image_outputs: tuple[str, ...] = ("preview",)
    elif workflow_id == "bright-spot-detector":
        function = _bright_spots
        image_outputs = ("visualization",)
        params["threshold"] = _int_param(params, "threshold", 200, 0, 255)
        params["grid"] = _int_param(params, "grid", 64, 8, 256)
        params["max_detections"] = _int_param(params, "max_detections", 100, 1, 10_000)
    else:
        raise WorkflowError(
            f"Workflow {workflow_id!r} not found in the workspace; built-in workflows: "
            "image-stats, bright-spot-detector."
        )
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
