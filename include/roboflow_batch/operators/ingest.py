"""Ingest images or videos into a Roboflow Data Staging batch. Three sources, one batch per run:

* a references file (``references``: JSONL of ``{"name", "url"}`` on ``file://``, ``s3://`` or
  ``gs://``) sent inline in chunks of at most 20,000 image / 5,000 video references (D10 image references
  ingest, D11 video references ingest);
* a signed URL to such a file (``references_url``), sent in one request;
* a local directory (``local_directory``, optionally only the names in ``local_file_list``): single
  uploads (D7) for small image sets, bulk tars (D9) beyond ``simple_upload_limit``, one upload per video.

Retries are safe: reference chunks carry deterministic ingest ids (a repeat is answered ``duplicated``);
local uploads skip what the task state store or the batch already holds.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from include.roboflow_batch import lineage
from include.roboflow_batch.api.errors import ExpiredBatchIdError, NotFoundError, RoboflowAPIError
from include.roboflow_batch.api.ids import MAX_STAGINGS, staged_batch_id, validate_batch_id
from include.roboflow_batch.api.models import BatchMetadata
from include.roboflow_batch.hooks.errors import roboflow_errors
from include.roboflow_batch.identity import batch_id_from_context
from include.roboflow_batch.ingest.arguments import option_problems
from include.roboflow_batch.ingest.completion_log import CompletionLog
from include.roboflow_batch.ingest.file_lists import local_files_to_send
from include.roboflow_batch.ingest.reference_requests import (
    ReferenceTarget,
    send_chunks,
    send_url,
    url_without_query,
)
from include.roboflow_batch.ingest.references_file import (
    ReferencesFileError,
    ReferencesSpool,
    spool_references,
)
from include.roboflow_batch.ingest.tar_shards import MAX_IMAGES_PER_TAR
from include.roboflow_batch.ingest.uploads import (
    UploadSettings,
    UploadTarget,
    choose_mode,
    send_singles,
    send_tars,
)
from include.roboflow_batch.operators.base import RoboflowOperator, SelectionWindowMixin
from include.roboflow_batch.references.window import SelectionWindow

if TYPE_CHECKING:
    from airflow.sdk import Context

    from include.roboflow_batch.api.client import RoboflowClient

__all__ = ["RoboflowIngestOperator"]

IMAGE_REFERENCES_PER_REQUEST = 20_000
VIDEO_REFERENCES_PER_REQUEST = 5_000
REJECTED_EXAMPLES_LIMIT = 100


class RoboflowIngestOperator(lineage.StepLineage, SelectionWindowMixin, RoboflowOperator):
    """Create (or extend) a staging batch from references or a local directory.

    :param batch_id: staging batch id (``[a-z0-9_-]``, <= 64). ``None`` derives one from the dag id,
        the data interval (or run id) and the map index, the same one the readiness sensor and the
        job operator derive.
    :param media_type: ``"images"`` or ``"videos"``.
    :param references: URI of a references JSONL (``file://``, ``s3://``, ``gs://``), read with
        ``references_conn_id``. With ``references_url`` it is only counted.
    :param references_conn_id: Airflow connection for reading ``references``.
    :param references_url: signed https URL of the references file: the service fetches it itself
        (one request). The expected count comes from ``references`` or from reading this URL; if
        neither is readable it is left to the service (``expected_count`` is then ``None``).
    :param local_directory: a local directory (path or ``file://``) whose top-level files are sent.
    :param local_file_list: a JSONL list of names in ``local_directory``: only those are sent (no window).
    :param select: ``"all"`` files, or ``"interval"``: files modified in ``[start, end)`` of the data
        interval, or of ``interval_start``/``interval_end`` when given (templated).
    :param interval_start: explicit window start (with ``interval_end``), e.g. for manual runs.
    :param interval_end: explicit window end (exclusive).
    :param batch_name: display name of the batch (default: the batch id).
    :param notifications_url: webhook URL for ingest notifications (references and bulk tars; the
        service sends none for single image uploads or videos).
    :param notification_categories: ``ingest-status`` and/or ``files-status`` (references only).
    :param simple_upload_limit: up to this many images are sent as single uploads, beyond as tars.
    :param images_per_tar: images per bulk tar (1-500); ``upload_concurrency``: parallel uploads.
    :param roboflow_conn_id: the Roboflow connection.

    Returns ``{"batch_id", "media_type", "mode", "expected_count", "ingest_ids", "duplicated_chunks",
    "sent_count", "already_sent_count", "rejected_count", "rejected"}``; ``expected_count`` is what
    the readiness sensor waits for. ``rejected`` lists (first 100) single uploads the service refused
    (e.g. over 20 MiB): logged, reported, not expected in the batch. A local directory read without a
    file list also returns ``skipped_count`` and ``skipped`` ({reason: count}): its entries that are not
    sent (another type, empty, oversize, unreadable, a subdirectory), each logged. Skips when there is
    nothing to send.
    """

    # Not ``references_url``: a signed URL is a bearer secret, and rendered fields are stored and shown.
    template_fields: Sequence[str] = (
        "batch_id",
        "references",
        "local_directory",
        "local_file_list",
        "select",
        "interval_start",
        "interval_end",
        "batch_name",
        "notifications_url",
    )
    ui_color = "#c9b7f5"

    def __init__(
        self,
        *,
        references: str | None = None,
        references_conn_id: str | None = None,
        references_url: str | None = None,
        local_directory: str | None = None,
        local_file_list: str | None = None,
        select: str = "all",
        interval_start: datetime | str | None = None,
        interval_end: datetime | str | None = None,
        batch_id: str | None = None,
        batch_name: str | None = None,
        media_type: str = "images",
        notifications_url: str | None = None,
        notification_categories: Sequence[str] | None = None,
        simple_upload_limit: int = 32,
        images_per_tar: int = MAX_IMAGES_PER_TAR,
        upload_concurrency: int = 8,
        roboflow_conn_id: str = "roboflow_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(roboflow_conn_id=roboflow_conn_id, **kwargs)
        self.uploads = UploadSettings(simple_upload_limit, images_per_tar, upload_concurrency)
        # Templated fields are kept verbatim and checked in execute(), after rendering.
        self.references = references
        self.references_conn_id = references_conn_id
        self.references_url = references_url
        self.local_directory = local_directory
        self.local_file_list = local_file_list
        self._keep_window_fields(select, interval_start, interval_end)
        self.batch_id = batch_id
        self.batch_name = batch_name
        self.media_type = media_type
        self.notifications_url = notifications_url
        self.notification_categories = notification_categories

    def step_lineage(self, result: Mapping[str, Any]) -> Any:
        """What was read (the references file or the local directory; never a signed URL), and the
        staging batch it went into as the run facet."""
        read = self.local_directory or self.references
        inputs = [lineage.dataset_for_uri(read)] if isinstance(read, str) and "{{" not in read else []
        return lineage.operator_lineage(
            inputs=inputs,
            run_facets=lineage.roboflow_run_facets(
                batch_id=result.get("batch_id") or self.batch_id,
                counts={
                    "expected": result.get("expected_count"),
                    "sent": result.get("sent_count"),
                    "already_sent": result.get("already_sent_count"),
                    "rejected": result.get("rejected_count"),
                    "skipped": result.get("skipped_count"),
                },
            ),
        )

    # -- arguments -------------------------------------------------------------------------------

    def _check_arguments(self) -> None:
        """Validate after templating (templated fields must not be transformed in ``__init__``)."""
        problems: list[str] = []
        sources = [
            name
            for name, value in (
                ("references", self.references or self.references_url),
                ("local_directory", self.local_directory),
            )
            if value
        ]
        if len(sources) != 1:
            problems.append(
                "give exactly one source: references (and/or references_url) or local_directory"
                + (f"; got {' and '.join(sources)}" if sources else "")
            )
        if self.references_url and urlsplit(self.references_url).scheme not in ("http", "https"):
            problems.append("references_url must be an http(s) URL")
        problems += option_problems(self)
        if problems:
            raise AirflowFailException(f"{type(self).__name__} {self.task_id}: " + "; ".join(problems))

    def _resolve_batch_id(self, context: Context) -> str:
        batch_id = self.batch_id or batch_id_from_context(context)
        try:
            return validate_batch_id(batch_id)
        except ValueError as exc:
            raise AirflowFailException(f"batch_id: {exc}") from exc

    @property
    def _categories(self) -> list[str] | None:
        # De-duplicated in a stable order (the official client uses a set, so its order varies).
        categories = list(dict.fromkeys(self.notification_categories or []))
        return categories or None

    # -- entry point -----------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        self._check_arguments()
        base_batch_id = self._resolve_batch_id(context)
        client = self._hook().get_client()
        try:
            summary = self._ingest_into_a_live_batch(context, client, base_batch_id)
        finally:
            client.close()
        batch_id = summary["batch_id"]
        self.log.info(
            "Ingest into batch %s (%s, %s): expected %s files, %d request(s), %d answered duplicated",
            batch_id,
            summary["media_type"],
            summary["mode"],
            summary["expected_count"],
            len(summary["ingest_ids"]),
            summary["duplicated_chunks"],
        )
        return summary

    def _ingest_into_a_live_batch(
        self, context: Context, client: RoboflowClient, base_batch_id: str
    ) -> dict[str, Any]:
        """Ingest into ``base_batch_id``, or into the next staging's id while the service refuses the
        id of an expired batch (it answers 409; by default it starts a new batch under the old id)."""
        for staging in range(1, MAX_STAGINGS + 1):
            batch_id = staged_batch_id(base_batch_id, staging)
            try:
                if self.local_directory:
                    return self._ingest_local_directory(context, client, batch_id)
                return self._ingest_references(client, batch_id)
            except AirflowFailException as exc:
                refusal = exc.__cause__
                if not isinstance(refusal, ExpiredBatchIdError):
                    raise
                self.log.warning(
                    "Batch %s expired and Roboflow keeps its id (%s): staging the data again as batch %s.",
                    batch_id,
                    refusal.message,
                    staged_batch_id(base_batch_id, staging + 1),
                )
        raise AirflowFailException(
            f"Roboflow refused batch {base_batch_id} and its next {MAX_STAGINGS - 1} ids as expired; "
            "give the run another batch_id."
        )

    def _summary(self, batch_id: str, mode: str, expected: int | None, **extra: Any) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "batch_id": batch_id,
            "media_type": self.media_type,
            "mode": mode,
            "expected_count": expected,
            "ingest_ids": [],
            "duplicated_chunks": 0,
            "sent_count": 0,
            "already_sent_count": 0,
            "rejected_count": 0,
            "rejected": [],
        }
        summary.update(extra)
        return summary

    # -- references ------------------------------------------------------------------------------

    def _ingest_references(self, client: RoboflowClient, batch_id: str) -> dict[str, Any]:
        chunk_size = (
            IMAGE_REFERENCES_PER_REQUEST if self.media_type == "images" else VIDEO_REFERENCES_PER_REQUEST
        )
        with tempfile.TemporaryDirectory(prefix="roboflow-ingest-") as scratch:
            spool_path = Path(scratch) / "references.jsonl"
            spool: ReferencesSpool | None
            if self.references:
                spool = self._spool_references_uri(self.references, spool_path, chunk_size)
            else:
                spool = self._spool_references_url(client, spool_path, chunk_size)
            if spool is not None and spool.count == 0:
                raise AirflowSkipException(f"references file {spool.source} holds no references")
            if self.references_url:
                return self._ingest_by_url(client, batch_id, spool)
            assert spool is not None  # a references URI always yields a spool
            return self._ingest_inline(client, batch_id, spool)

    def _spool_references_uri(self, uri: str, destination: Path, chunk_size: int) -> ReferencesSpool:
        path = ObjectStoragePath(uri, conn_id=self.references_conn_id)
        try:
            with path.open("rb") as stream:
                return spool_references(stream, uri, destination, chunk_size)
        except ReferencesFileError as exc:
            raise AirflowFailException(str(exc)) from exc
        except FileNotFoundError as exc:
            raise AirflowFailException(f"references file {uri} does not exist") from exc

    def _spool_references_url(
        self, client: RoboflowClient, destination: Path, chunk_size: int
    ) -> ReferencesSpool | None:
        """Count the file behind ``references_url`` if this worker can read it, else return None."""
        assert self.references_url is not None
        shown = url_without_query(self.references_url)
        download = destination.with_suffix(".download")
        try:
            client.download_file(self.references_url, download)
        except (RoboflowAPIError, OSError) as exc:
            self.log.warning(
                "Could not read references_url %s to count it (%s); the service will tell the expected count",
                shown,
                type(exc).__name__,
            )
            return None
        try:
            with download.open("rb") as stream:
                return spool_references(stream, shown, destination, chunk_size)
        except ReferencesFileError as exc:
            raise AirflowFailException(str(exc)) from exc

    def _reference_target(self, client: RoboflowClient, batch_id: str) -> ReferenceTarget:
        return ReferenceTarget(
            client=client,
            batch_id=batch_id,
            media_type=self.media_type,
            display_name=self.batch_name or batch_id,
            notifications_url=self.notifications_url,
            notification_categories=self._categories,
            conn_id=self.roboflow_conn_id,
            log=self.log,
        )

    def _ingest_inline(self, client: RoboflowClient, batch_id: str, spool: ReferencesSpool) -> dict[str, Any]:
        sent = send_chunks(self._reference_target(client, batch_id), spool)
        return self._summary(
            batch_id,
            "references",
            spool.count,
            ingest_ids=sent.ingest_ids,
            duplicated_chunks=sent.duplicated_chunks,
            sent_count=spool.count,
        )

    def _ingest_by_url(
        self, client: RoboflowClient, batch_id: str, spool: ReferencesSpool | None
    ) -> dict[str, Any]:
        assert self.references_url is not None
        sent = send_url(self._reference_target(client, batch_id), self.references_url, spool)
        expected = spool.count if spool is not None else None
        return self._summary(
            batch_id,
            "references_url",
            expected,
            ingest_ids=sent.ingest_ids,
            duplicated_chunks=sent.duplicated_chunks,
            sent_count=expected or 0,
        )

    # -- local directory -------------------------------------------------------------------------

    def _window(self, context: Context) -> SelectionWindow:
        try:
            return self.resolve_selection(context)
        except ValueError as exc:
            raise AirflowFailException(f"{type(self).__name__} {self.task_id}: {exc}") from exc

    def _existing_batch(self, client: RoboflowClient, batch_id: str) -> BatchMetadata | None:
        with roboflow_errors(f"lookup of batch {batch_id}", self.roboflow_conn_id):
            try:
                return client.get_batch(batch_id)
            except NotFoundError:
                return None

    def _staged_names(self, client: RoboflowClient, batch_id: str) -> set[str]:
        with roboflow_errors(f"listing of batch {batch_id}", self.roboflow_conn_id):
            return {item.file_name for item in client.iter_batch_files(batch_id)}

    def _ingest_local_directory(
        self, context: Context, client: RoboflowClient, batch_id: str
    ) -> dict[str, Any]:
        window = self._window(context)
        try:
            directory, scan = local_files_to_send(
                self.local_directory or "", self.media_type, window, self.local_file_list
            )
        except ValueError as exc:  # a missing directory or a damaged file list: retrying cannot help
            raise AirflowFailException(str(exc)) from exc
        files = scan.files
        for entry in scan.skipped[:REJECTED_EXAMPLES_LIMIT]:
            self.log.warning("Not sending %s from %s: %s", entry.key, directory, entry.reason)
        if not files:
            scope = "" if window.selects_all else f" modified in {window.describe()}"
            raise AirflowSkipException(f"no {self.media_type}{scope} in {directory}")
        existing = self._existing_batch(client, batch_id)
        try:
            mode = choose_mode(self.media_type, len(files), existing, self.uploads.simple_upload_limit)
        except ValueError as exc:
            raise AirflowFailException(f"batch {batch_id} {exc}") from exc
        if existing is not None and mode == "simple" and len(files) > self.uploads.simple_upload_limit:
            self.log.warning(
                "Batch %s was created with single uploads; sending %d images the same way",
                batch_id,
                len(files),
            )
        if self.notifications_url and mode != "bulk":
            self.log.warning(
                "The service sends no ingest notifications for %s uploads; notifications_url unused", mode
            )
        completion = CompletionLog(context.get("task_state_store"), batch_id, mode)
        # A batch that does not exist (never made, or expired) holds nothing an earlier attempt sent.
        done = completion.load() if existing is not None else set()
        staged = self._staged_names(client, batch_id) if existing is not None else set()
        target = UploadTarget(
            client, batch_id, self.batch_name or batch_id, self.uploads, self.roboflow_conn_id, self.log
        )
        if mode == "bulk":
            outcome = send_tars(target, files, completion, done, staged, self.notifications_url)
        else:
            outcome = send_singles(target, mode, files, completion, done | staged)
        return self._summary(
            batch_id,
            mode,
            outcome.expected_count,
            ingest_ids=outcome.ingest_ids,
            sent_count=outcome.sent_count,
            already_sent_count=outcome.already_sent_count,
            rejected_count=len(outcome.rejected),
            rejected=outcome.rejected[:REJECTED_EXAMPLES_LIMIT],
            # With a file list its listing accounted for the rest of the directory.
            **({} if self.local_file_list else scan.skipped_summary()),
        )
