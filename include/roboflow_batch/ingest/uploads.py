"""Sending local files to a staging batch: single image uploads (D7 ``POST .../upload/image``),
signed video uploads (D8 ``POST .../upload/video``) and bulk tars (D9 ``POST .../bulk-upload/image-files``),
on a pool of threads that records each finished unit so a retry sends only what is missing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from include.roboflow_batch.api.client import RoboflowClient
from include.roboflow_batch.api.errors import BadRequestError
from include.roboflow_batch.api.ids import derive_ingest_id
from include.roboflow_batch.api.models import BatchMetadata
from include.roboflow_batch.hooks.errors import roboflow_errors
from include.roboflow_batch.ingest.completion_log import CompletionLog
from include.roboflow_batch.ingest.local_files import LocalFile
from include.roboflow_batch.ingest.tar_shards import MAX_IMAGES_PER_TAR, build_tar, names_fingerprint
from include.roboflow_batch.logs import TaskLog
from include.roboflow_batch.parallel import ItemFailedError, run_parallel

_BATCH_TYPE_TO_MODE = {"simple-batch": "simple", "sharded-batch": "bulk"}

#: A unit of work: the name it is recorded under once done, and the call that sends it (which
#: returns a per-file refusal, or None once sent).
UploadUnit = tuple[str, Callable[[], dict[str, str] | None]]


@dataclass(frozen=True)
class UploadSettings:
    """How local images are sent: single uploads up to ``simple_upload_limit``, tars of
    ``images_per_tar`` beyond, ``upload_concurrency`` uploads at a time (checked by ``ingest.arguments``)."""

    simple_upload_limit: int = 32
    images_per_tar: int = MAX_IMAGES_PER_TAR
    upload_concurrency: int = 8


@dataclass(frozen=True)
class UploadTarget:
    """Where and how to send: the batch, its display name, the upload settings and the connection."""

    client: RoboflowClient
    batch_id: str
    display_name: str
    settings: UploadSettings
    conn_id: str
    log: TaskLog


@dataclass
class UploadOutcome:
    """What one attempt sent, what earlier attempts (or the batch itself) already held, and refusals."""

    expected_count: int
    sent_count: int
    already_sent_count: int
    rejected: list[dict[str, str]] = field(default_factory=list)
    ingest_ids: list[str] = field(default_factory=list)


def choose_mode(
    media_type: str, file_count: int, existing: BatchMetadata | None, simple_upload_limit: int
) -> str:
    """``"video"``, ``"simple"`` (single image uploads) or ``"bulk"`` (tars) for sending to a batch.

    :raises ValueError: the existing batch cannot take these files (says why, after "batch <id>").
    """
    if existing is not None and existing.batch_content_type and existing.batch_content_type != media_type:
        raise ValueError(f"already holds {existing.batch_content_type}; it cannot take {media_type}")
    if media_type == "videos":
        return "video"
    if existing is not None:
        kept = _BATCH_TYPE_TO_MODE.get(existing.batch_type)
        if kept is None:
            raise ValueError(
                f"exists as a {existing.batch_type!r}; "
                "images can only be added to a simple-batch or sharded-batch"
            )
        # Single and bulk uploads cannot be mixed in one batch: keep the mode it was created with.
        return kept
    return "simple" if file_count <= simple_upload_limit else "bulk"


def send_image(
    client: RoboflowClient, batch_id: str, item: LocalFile, display_name: str
) -> dict[str, str] | None:
    """One image (D7 single image upload); a refusal of this file is returned, not raised, so it cannot sink
    the others."""
    try:
        client.upload_image(batch_id, item.name, item.path.read_bytes(), display_name=display_name)
    except BadRequestError as exc:
        return {"file_name": item.name, "reason": exc.message}
    return None


def send_video(client: RoboflowClient, batch_id: str, item: LocalFile, display_name: str) -> None:
    """One video: a signed upload URL (D8 video upload), then the file itself."""
    details = client.request_video_upload(batch_id, item.name, display_name=display_name)
    client.upload_file(details, item.path)


def send_tar(
    target: UploadTarget,
    group: list[LocalFile],
    tar_path: Path,
    ingest_id: str,
    notifications_url: str | None,
) -> None:
    """One bulk tar: built on disk, a signed upload URL (D9 bulk image upload), the tar sent, the tar
    removed."""
    build_tar(group, tar_path, ingest_id=ingest_id, notifications_url=notifications_url)
    try:
        details = target.client.request_bulk_image_upload(target.batch_id, display_name=target.display_name)
        target.client.upload_file(details, tar_path)
    finally:
        tar_path.unlink(missing_ok=True)


def send_singles(
    target: UploadTarget,
    mode: str,
    files: list[LocalFile],
    completion: CompletionLog,
    skip: set[str],
) -> UploadOutcome:
    """Upload each file in ``files`` not in ``skip`` on its own (``mode`` ``"simple"`` or ``"video"``)."""
    pending = [item for item in files if item.name not in skip]
    send = send_video if mode == "video" else send_image
    work: list[UploadUnit] = [
        (item.name, partial(send, target.client, target.batch_id, item, target.display_name))
        for item in pending
    ]
    rejected = send_units(target, work, completion, f"upload to {target.batch_id}")
    if rejected:
        target.log.warning(
            "Batch %s: the service refused %d file(s); they are not part of the batch:",
            target.batch_id,
            len(rejected),
        )
        for refusal in rejected[:10]:
            target.log.warning("  %s: %s", refusal["file_name"], refusal["reason"])
    return UploadOutcome(
        expected_count=len(files) - len(rejected),
        sent_count=len(pending) - len(rejected),
        already_sent_count=len(files) - len(pending),
        rejected=rejected,
    )


def send_tars(
    target: UploadTarget,
    files: list[LocalFile],
    completion: CompletionLog,
    done: set[str],
    staged: set[str],
    notifications_url: str | None,
) -> UploadOutcome:
    """Upload ``files`` as tars of the settings' ``images_per_tar``; a tar is named by its position and
    its names, so a retry recognises the tars an earlier attempt sent (``done``) and leaves out staged
    images."""
    ingest_ids: list[str] = []
    work: list[UploadUnit] = []
    already = 0
    images_per_tar = target.settings.images_per_tar
    with tempfile.TemporaryDirectory(prefix="roboflow-tars-") as scratch:
        for index in range(0, len(files), images_per_tar):
            group = files[index : index + images_per_tar]
            fingerprint = names_fingerprint([item.name for item in group])
            number = index // images_per_tar
            unit_id = f"tar-{number}-{fingerprint}"
            ingest_id = derive_ingest_id(target.batch_id, "tar", number, fingerprint)
            ingest_ids.append(ingest_id)
            if unit_id in done:
                already += len(group)
                continue
            remaining = [item for item in group if item.name not in staged]
            already += len(group) - len(remaining)
            if not remaining:
                completion.mark(unit_id)
                continue
            tar_path = Path(scratch) / f"{unit_id}.tar"
            work.append(
                (unit_id, partial(send_tar, target, remaining, tar_path, ingest_id, notifications_url))
            )
        send_units(target, work, completion, f"bulk upload to {target.batch_id}")
    return UploadOutcome(
        expected_count=len(files),
        sent_count=len(files) - already,
        already_sent_count=already,
        ingest_ids=ingest_ids,
    )


def send_units(
    target: UploadTarget, work: list[UploadUnit], completion: CompletionLog, action: str
) -> list[dict[str, str]]:
    """Run ``work`` on ``upload_concurrency`` threads (``parallel.run_parallel``), recording each
    finished unit.

    Returns the per-file refusals. On the first failure nothing new starts; uploads already in flight
    finish and are recorded, then the failure is raised (as an Airflow exception naming the unit), so
    a retry resumes where this attempt stopped.
    """
    if not work:
        return []

    def record(unit: UploadUnit, refusal: dict[str, str] | None) -> None:
        # Refused files stay unrecorded: a retry sends and reports them again.
        if refusal is None:
            completion.mark(unit[0])

    try:
        outcomes = run_parallel(
            work,
            lambda unit: unit[1](),
            target.settings.upload_concurrency,
            on_result=record,
            name="roboflow-upload",
        )
    except ItemFailedError as failure:
        cause = failure.__cause__ or failure
        with roboflow_errors(f"{action} ({failure.item[0]})", target.conn_id):
            raise cause from None
    finally:
        completion.flush()
    target.log.info("%s: %d unit(s) sent", action, len(outcomes))
    return [refusal for refusal in outcomes if refusal is not None]
