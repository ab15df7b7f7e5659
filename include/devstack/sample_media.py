"""Generated sample media with known content, and helpers that put it into the local stand-ins.

Each image is a dark frame with one bright square at a known place, which the emulator's
``bright-spot-detector`` workflow finds; the demo and the integration tests compare its
predictions with the square they drew.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BACKGROUND = (18, 22, 30)
SPOT = (255, 255, 255)


@dataclass(frozen=True)
class SampleImage:
    """A PNG with one bright square; ``spot`` is its centre and size in pixels."""

    name: str
    content: bytes
    width: int
    height: int
    spot: tuple[int, int, int, int]  # x_center, y_center, width, height

    @property
    def spot_box(self) -> tuple[int, int, int, int]:
        """Left, top, right (exclusive), bottom (exclusive)."""
        x, y, w, h = self.spot
        return x - w // 2, y - h // 2, x - w // 2 + w, y - h // 2 + h


@dataclass(frozen=True)
class SampleVideo:
    """An MP4 whose frames each show one bright square moving left to right."""

    name: str
    content: bytes
    frames: int
    fps: int


def draw_bright_spot(width: int, height: int, spot: tuple[int, int, int, int]) -> bytes:
    """PNG bytes: a dark frame with a white square centred at ``spot[:2]`` of size ``spot[2:]``."""
    from PIL import Image, ImageDraw

    x, y, w, h = spot
    image = Image.new("RGB", (width, height), BACKGROUND)
    left, top = x - w // 2, y - h // 2
    ImageDraw.Draw(image).rectangle((left, top, left + w - 1, top + h - 1), fill=SPOT)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def sample_images(
    count: int, *, prefix: str = "frame", seed: int = 0, size: tuple[int, int] = (96, 64)
) -> list[SampleImage]:
    """``count`` images, each with its bright square somewhere different (deterministic per seed)."""
    rng = random.Random(seed)
    width, height = size
    images = []
    for index in range(count):
        side = rng.randint(8, 16)
        x = rng.randint(side, width - side)
        y = rng.randint(side, height - side)
        spot = (x, y, side, side)
        images.append(
            SampleImage(
                name=f"{prefix}-{index:03d}.png",
                content=draw_bright_spot(width, height, spot),
                width=width,
                height=height,
                spot=spot,
            )
        )
    return images


def sample_video(
    name: str = "clip.mp4", *, frames: int = 10, fps: int = 5, size: tuple[int, int] = (96, 64)
) -> SampleVideo:
    """A short H.264 MP4 (PyAV) in which a bright square crosses the frame."""
    import av
    from PIL import Image

    width, height = size
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(frames):
            x = 12 + (width - 24) * index // max(frames - 1, 1)
            png = draw_bright_spot(width, height, (x, height // 2, 12, 12))
            frame = av.VideoFrame.from_image(Image.open(io.BytesIO(png)).convert("RGB"))
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return SampleVideo(name=name, content=buffer.getvalue(), frames=frames, fps=fps)


def write_files(directory: Path, items: Iterable[SampleImage | SampleVideo]) -> list[Path]:
    """Write the samples into ``directory`` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in items:
        path = directory / item.name
        path.write_bytes(item.content)
        paths.append(path)
    return paths


def stand_in_s3_client(endpoint_url: str) -> Any:
    """A boto3 S3 client for the moto stand-in (its test credentials, SigV4 like a real store)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(signature_version="s3v4"),
    )


def seed_s3(
    endpoint_url: str, bucket: str, prefix: str, items: Sequence[SampleImage | SampleVideo]
) -> list[str]:
    """Create ``bucket`` on an S3 endpoint (moto) if needed and upload the samples; returns the keys."""
    client = stand_in_s3_client(endpoint_url)
    existing = {entry["Name"] for entry in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
    keys = []
    for item in items:
        key = f"{prefix}{item.name}"
        client.put_object(Bucket=bucket, Key=key, Body=item.content)
        keys.append(key)
    return keys


def seed_gcs(
    emulator_url: str, bucket: str, prefix: str, items: Sequence[SampleImage | SampleVideo]
) -> list[str]:
    """Create ``bucket`` on the GCS emulator if needed and upload the samples; returns the names."""
    from google.api_core.exceptions import Conflict
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(
        project="demo-project",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": emulator_url},
    )
    try:
        target = client.create_bucket(bucket)
    except Conflict:
        target = client.bucket(bucket)
    names = []
    for item in items:
        name = f"{prefix}{item.name}"
        target.blob(name).upload_from_string(item.content)
        names.append(name)
    return names
