"""Media Roboflow accepts, by extension (docs/roboflow-api.md §7), and their size limit.

The emulator keeps its own copy on purpose, so that it checks this one instead of sharing its mistakes.
"""

from __future__ import annotations

from typing import Literal

MediaType = Literal["images", "videos"]
MEDIA_TYPES: tuple[MediaType, ...] = ("images", "videos")

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
EXTENSIONS: dict[MediaType, frozenset[str]] = {"images": IMAGE_EXTENSIONS, "videos": VIDEO_EXTENSIONS}

# Larger images fail server-side as `file-size-limit-exceeded`; videos have no documented limit.
MAX_IMAGE_BYTES = 20 * 1024 * 1024


def validate_media_type(value: object) -> MediaType:
    """``value`` as a MediaType, or a ValueError naming the field."""
    if value not in MEDIA_TYPES:
        raise ValueError(f"media_type must be one of {', '.join(MEDIA_TYPES)}; got {value!r}")
    return value


def has_media_extension(key: str, media_type: MediaType) -> bool:
    """Whether the key's extension (case-insensitive) is one of the media type's.

    As for file names, a base name that only starts with a dot (``.jpg``) has no extension.
    """
    dot = key.rfind(".")
    if dot <= 0 or key[dot - 1] == "/" or "/" in key[dot:]:
        return False
    return key[dot + 1 :].lower() in EXTENSIONS[media_type]


def size_limit(media_type: MediaType) -> int | None:
    """The largest accepted object size in bytes, or None when there is no limit."""
    return MAX_IMAGE_BYTES if media_type == "images" else None


# Why an object of a window is not sent (the names of Roboflow's own per-file failure types where
# one exists), shared by the bucket listings and the local-directory listing.
SKIP_UNSUPPORTED = "unsupported-file-type"
SKIP_EMPTY = "empty-file"
SKIP_TOO_LARGE = "file-size-limit-exceeded"
# A repair looked for an object of its window and the source no longer has it.
SKIP_NOT_FOUND = "not-found"


def rejection_reason(name: str, size: int, media_type: MediaType) -> str | None:
    """Why Roboflow would refuse this object (extension, then emptiness, then size), or None."""
    if not has_media_extension(name, media_type):
        return SKIP_UNSUPPORTED
    if size == 0:
        return SKIP_EMPTY
    limit = size_limit(media_type)
    if limit is not None and size > limit:
        return SKIP_TOO_LARGE
    return None
