"""Checks of the ingest operator's options, run after templating; each problem names its option."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from urllib.parse import urlsplit

from include.roboflow_batch.api.endpoints import NOTIFICATION_CATEGORIES
from include.roboflow_batch.ingest.tar_shards import MAX_IMAGES_PER_TAR
from include.roboflow_batch.ingest.uploads import UploadSettings
from include.roboflow_batch.media import MEDIA_TYPES
from include.roboflow_batch.references.window import SELECT_MODES


def _notification_problems(categories: Sequence[str] | None, notifications_url: str | None) -> list[str]:
    problems: list[str] = []
    if isinstance(categories, str):
        problems.append("notification_categories must be a list, e.g. ['ingest-status']")
    wanted = list(categories or [])
    unknown = [c for c in wanted if c not in NOTIFICATION_CATEGORIES]
    if unknown:
        problems.append(
            f"notification_categories: unknown {unknown}; allowed {list(NOTIFICATION_CATEGORIES)}"
        )
    if wanted and not notifications_url:
        problems.append("notification_categories needs notifications_url")
    if notifications_url and urlsplit(notifications_url).scheme not in ("http", "https"):
        problems.append("notifications_url must be an http(s) URL")
    return problems


class IngestOptions(Protocol):
    """The ingest operator's options, as read after templating (any value may still be wrong)."""

    @property
    def media_type(self) -> str: ...
    @property
    def select(self) -> str: ...
    @property
    def notification_categories(self) -> Sequence[str] | None: ...
    @property
    def notifications_url(self) -> str | None: ...
    @property
    def uploads(self) -> UploadSettings: ...


def _upload_problems(uploads: UploadSettings) -> list[str]:
    # The settings come from DAG code as given: any value may still be of the wrong type.
    problems: list[str] = []
    simple_upload_limit: object = uploads.simple_upload_limit
    images_per_tar: object = uploads.images_per_tar
    upload_concurrency: object = uploads.upload_concurrency
    if not isinstance(simple_upload_limit, int) or simple_upload_limit < 0:
        problems.append(f"simple_upload_limit must be an integer >= 0, got {simple_upload_limit!r}")
    if not isinstance(images_per_tar, int) or not 1 <= images_per_tar <= MAX_IMAGES_PER_TAR:
        problems.append(f"images_per_tar must be 1..{MAX_IMAGES_PER_TAR}, got {images_per_tar!r}")
    if not isinstance(upload_concurrency, int) or upload_concurrency < 1:
        problems.append(f"upload_concurrency must be an integer >= 1, got {upload_concurrency!r}")
    return problems


def option_problems(options: IngestOptions) -> list[str]:
    """Every problem with these options (empty when they are fine)."""
    problems: list[str] = []
    media_type, select = options.media_type, options.select
    if media_type not in MEDIA_TYPES:
        problems.append(f"media_type must be one of {MEDIA_TYPES}, got {media_type!r}")
    if select not in SELECT_MODES:
        problems.append(f"select must be one of {SELECT_MODES}, got {select!r}")
    problems += _notification_problems(options.notification_categories, options.notifications_url)
    return problems + _upload_problems(options.uploads)
