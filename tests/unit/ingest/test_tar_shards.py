"""Bulk-upload tars hold every image byte for byte, at the archive root, plus the notification config."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

from include.roboflow_batch.ingest.local_files import LocalFile
from include.roboflow_batch.ingest.tar_shards import NOTIFICATION_CONFIG_NAME, build_tar


def test_images_are_stored_byte_for_byte_with_the_notification_config(tmp_path: Path) -> None:
    sources = tmp_path / "cams"
    sources.mkdir()
    files = []
    for number in range(3):
        path = sources / f"frame-{number}.jpg"
        path.write_bytes(bytes([number]) * (1000 + number * 517))
        files.append(LocalFile(path, path.stat().st_size, path.stat().st_mtime))
    tar_path = build_tar(
        files, tmp_path / "shard.tar", ingest_id="ing-1", notifications_url="http://127.0.0.1/n"
    )
    with tarfile.open(tar_path) as archive:
        assert archive.getnames() == ["frame-0.jpg", "frame-1.jpg", "frame-2.jpg", NOTIFICATION_CONFIG_NAME]
        for item in files:
            member = archive.extractfile(item.name)
            assert member is not None and member.read() == item.path.read_bytes()
        config = archive.extractfile(NOTIFICATION_CONFIG_NAME)
        assert config is not None
        assert json.loads(config.read()) == {"ingestId": "ing-1", "notificationsURL": "http://127.0.0.1/n"}


def test_a_file_that_grew_after_discovery_is_sent_whole(tmp_path: Path) -> None:
    path = tmp_path / "late.jpg"
    path.write_bytes(b"a" * 10)
    listed = LocalFile(path, 10, path.stat().st_mtime)
    path.write_bytes(b"b" * 5000)
    with tarfile.open(build_tar([listed], tmp_path / "shard.tar")) as archive:
        member = archive.extractfile("late.jpg")
        assert member is not None and member.read() == b"b" * 5000
