"""Uncompressed tar archives of images for bulk upload (D9), written to disk, never held in memory."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Sequence
from pathlib import Path

from include.roboflow_batch.ingest.local_files import LocalFile

__all__ = ["MAX_IMAGES_PER_TAR", "NOTIFICATION_CONFIG_NAME", "build_tar", "names_fingerprint"]

MAX_IMAGES_PER_TAR = 500
NOTIFICATION_CONFIG_NAME = "notification_config.json"


def names_fingerprint(names: Sequence[str]) -> str:
    """A short stable digest of a group of file names (identifies a tar across attempts)."""
    digest = hashlib.blake2b(digest_size=6)
    for name in names:
        digest.update(name.encode("utf-8") + b"\n")
    return digest.hexdigest()


def build_tar(
    files: Sequence[LocalFile],
    destination: Path,
    *,
    ingest_id: str | None = None,
    notifications_url: str | None = None,
) -> Path:
    """Write ``files`` at the archive root under their names; add the notification config if asked.

    The config member (``{"ingestId", "notificationsURL"}``) is how the service learns where to send
    webhooks for a bulk upload.
    """
    with tarfile.open(destination, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for item in files:
            # A header built from the open file: no per-file owner and group look-ups (archive.add
            # does those), and the size is the one of the bytes actually copied.
            with item.path.open("rb") as handle:
                info = tarfile.TarInfo(item.name)
                info.size = os.fstat(handle.fileno()).st_size
                info.mtime = int(item.mtime)
                info.mode = 0o644
                archive.addfile(info, handle)
        if notifications_url:
            payload = json.dumps({"ingestId": ingest_id, "notificationsURL": notifications_url}).encode()
            info = tarfile.TarInfo(NOTIFICATION_CONFIG_NAME)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return destination
