"""Images and videos with known content, and the results a correct workflow must report for them.

Images are lossless PNGs: a solid background colour with an optional bright square, so the mean
colour, the size, the bytes' sha256 and the square's position are all known in advance.
Videos are short MPEG-4 files with a solid colour per video, so frame count, size and rate are known.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from PIL import Image, ImageDraw

SPOT_COLOUR = (255, 255, 255)


@dataclass(frozen=True)
class ImageSpec:
    name: str
    width: int
    height: int
    background: tuple[int, int, int]
    # (left, top, size) of a white square, or None
    spot: tuple[int, int, int] | None = None

    @property
    def mean_rgb(self) -> tuple[float, float, float]:
        total = self.width * self.height
        spot_area = self.spot[2] ** 2 if self.spot else 0
        return tuple(  # type: ignore[return-value]
            (bg * (total - spot_area) + 255 * spot_area) / total for bg in self.background
        )

    @property
    def brightness(self) -> float:
        """Mean luma (ITU-R 601 weights), as a grey-scale conversion sees the image."""
        r, g, b = self.mean_rgb
        return 0.299 * r + 0.587 * g + 0.114 * b

    @property
    def spot_centre(self) -> tuple[float, float] | None:
        if self.spot is None:
            return None
        left, top, size = self.spot
        return left + size / 2, top + size / 2


@dataclass(frozen=True)
class GeneratedImage:
    spec: ImageSpec
    path: Path
    sha256: str


def image_specs(count: int, prefix: str = "img") -> list[ImageSpec]:
    """`count` distinct images: sizes and colours vary, every third one has a bright square."""
    specs = []
    for i in range(count):
        width, height = 48 + 8 * (i % 5), 40 + 4 * (i % 7)
        background = ((17 * i) % 120, (29 * i + 40) % 120, (43 * i + 80) % 120)
        spot = (4 + i % 9, 3 + i % 5, 12) if i % 3 == 0 else None
        specs.append(ImageSpec(f"{prefix}-{i:03d}.png", width, height, background, spot))
    return specs


def write_image(spec: ImageSpec, directory: Path) -> GeneratedImage:
    image = Image.new("RGB", (spec.width, spec.height), spec.background)
    if spec.spot is not None:
        left, top, size = spec.spot
        ImageDraw.Draw(image).rectangle([left, top, left + size - 1, top + size - 1], fill=SPOT_COLOUR)
    path = directory / spec.name
    image.save(path, format="PNG")
    return GeneratedImage(spec, path, hashlib.sha256(path.read_bytes()).hexdigest())


def write_images(specs: list[ImageSpec], directory: Path) -> list[GeneratedImage]:
    directory.mkdir(parents=True, exist_ok=True)
    return [write_image(spec, directory) for spec in specs]


@dataclass(frozen=True)
class VideoSpec:
    name: str
    width: int
    height: int
    fps: int
    frames: int
    colour: tuple[int, int, int]

    def sampled_frames(self, max_fps: float | None) -> int:
        """Frames a workflow sees when it samples at `max_fps` (every frame if the video is slower)."""
        if max_fps is None or max_fps >= self.fps:
            return self.frames
        return math.ceil(self.frames * max_fps / self.fps)


def write_video(spec: VideoSpec, directory: Path) -> Path:
    import av
    import numpy as np

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / spec.name
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(spec.fps, 1))
        stream.width, stream.height = spec.width, spec.height
        stream.pix_fmt = "yuv420p"
        pixels = np.zeros((spec.height, spec.width, 3), dtype=np.uint8)
        pixels[:, :] = spec.colour
        for _ in range(spec.frames):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
