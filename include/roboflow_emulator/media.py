"""What counts as an acceptable staged file: size limits and recognisable image/video content."""

from __future__ import annotations

import io
from pathlib import PurePosixPath

from PIL import Image, UnidentifiedImageError

from include.roboflow_emulator.config import MAX_IMAGE_BYTES
from include.roboflow_emulator.state import FailedFile

IMAGE_EXTENSIONS = frozenset({"bmp", "dib", "jpeg", "jpg", "jpe", "jp2", "png", "webp"})
VIDEO_EXTENSIONS = frozenset(
    {
        "mp4",
        "m4a",
        "m4p",
        "m4b",
        "m4r",
        "m4v",
        "avi",
        "mov",
        "mkv",
        "flv",
        "wmv",
        "mpeg",
        "mpg",
        "3gp",
        "webm",
        "ogg",
    }
)
MAX_VIDEO_BYTES = 1024 * 1024 * 1024
OVERSIZE_REASON = f"Max size of single image is {MAX_IMAGE_BYTES}B."


def extension(file_name: str) -> str:
    return PurePosixPath(file_name).suffix.lower().lstrip(".")


def oversize_failure(file_name: str) -> FailedFile:
    return FailedFile(file_name, "file-size-limit-exceeded", OVERSIZE_REASON)


def check_image(file_name: str, content: bytes) -> FailedFile | None:
    """None if `content` is an image the service would stage, else the failure to report."""
    if len(content) > MAX_IMAGE_BYTES:
        return oversize_failure(file_name)
    try:
        with Image.open(io.BytesIO(content)) as image:
            image_format = image.format
    except (UnidentifiedImageError, OSError, ValueError):
        return FailedFile(file_name, "unsupported-file-type", "File content is not a decodable image.")
    if image_format is None:
        return FailedFile(file_name, "unsupported-file-type", "File content is not a decodable image.")
    return None


def check_video(file_name: str, content: bytes) -> FailedFile | None:
    if len(content) > MAX_VIDEO_BYTES:
        return FailedFile(
            file_name, "file-size-limit-exceeded", f"Max size of single video is {MAX_VIDEO_BYTES}B."
        )
    if extension(file_name) not in VIDEO_EXTENSIONS:
        return FailedFile(
            file_name,
            "unsupported-file-type",
            f"Video file name must end with one of: {', '.join(sorted(VIDEO_EXTENSIONS))}.",
        )
    if not content:
        return FailedFile(file_name, "unsupported-file-type", "Video file is empty.")
    if not _has_video_stream(content):
        return FailedFile(file_name, "unsupported-file-type", "File content is not a decodable video.")
    return None


def _has_video_stream(content: bytes) -> bool:
    """Whether a container holds a video stream; single images (decoded as `*_pipe`) do not count."""
    import av  # imported lazily: only video ingests pay for it

    try:
        with av.open(io.BytesIO(content)) as container:
            still_image = container.format.name.endswith("_pipe") or container.format.name == "image2"
            return bool(container.streams.video) and not still_image
    except (av.FFmpegError, OSError, ValueError):
        return False


def check_file(content_type: str, file_name: str, content: bytes) -> FailedFile | None:
    return check_image(file_name, content) if content_type == "images" else check_video(file_name, content)
