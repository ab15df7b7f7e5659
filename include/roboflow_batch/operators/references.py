"""List new media objects in S3 or GCS, sign GET URLs for them and write a references JSONL.

The JSONL (one ``{"name", "url"}`` per line) is what Roboflow's references ingest reads. The
signed URLs are bearer secrets: they are written to the private ``destination`` only, never to
XCom, logs or exceptions. The task returns a small summary instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath
from airflow.sdk.exceptions import AirflowSkipException

from include.roboflow_batch import lineage
from include.roboflow_batch.media import validate_media_type
from include.roboflow_batch.operators.base import SelectionWindowMixin
from include.roboflow_batch.references.expiry import (
    DEFAULT_EXPIRY,
    EffectiveExpiry,
    effective_expiry,
    parse_expiry,
)
from include.roboflow_batch.references.generate import ReferencesSummary, write_references
from include.roboflow_batch.references.jsonl import references_file_path
from include.roboflow_batch.references.objects import MAX_PAGE_SIZE, ListingLimits, Signer, StoredObject
from include.roboflow_batch.references.window import is_dry_run

if TYPE_CHECKING:
    from airflow.sdk import Context

    from include.roboflow_batch.content.record import RecordIndex


def max_map_length() -> int:
    """Airflow's cap on the mapped task instances of one task (``[core] max_map_length``)."""
    from airflow.configuration import conf

    return conf.getint("core", "max_map_length", fallback=1024)


class _ReferencesOperator(lineage.StepLineage, SelectionWindowMixin, BaseOperator):
    """What S3 and GCS reference generation share: validation, selection, writing, the summary."""

    template_fields: Sequence[str] = (
        "bucket",
        "prefix",
        "destination",
        "destination_conn_id",
        "media_type",
        "expiry",
        "select",
        "interval_start",
        "interval_end",
        "count_only",
        "repair_of",
    )
    ui_color = "#fde68a"
    scheme = ""

    def __init__(
        self,
        *,
        bucket: str,
        destination: str,
        prefix: str = "",
        destination_conn_id: str | None = None,
        media_type: str = "images",
        expiry: timedelta | int | str = DEFAULT_EXPIRY,
        select: str = "interval",
        interval_start: datetime | str | None = None,
        interval_end: datetime | str | None = None,
        shorten_to_credentials: bool = False,
        page_size: int = MAX_PAGE_SIZE,
        max_objects_per_file: int | None = None,
        skip_when_all_skipped: bool = True,
        count_only: bool | str = False,
        processed_content: str | None = None,
        processed_content_conn_id: str | None = None,
        repair_of: str | None = None,
        repair_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.count_only = count_only
        self.processed_content = processed_content
        self.processed_content_conn_id = processed_content_conn_id
        self.repair_of = repair_of
        self.repair_conn_id = repair_conn_id
        # Templated fields are assigned verbatim and validated in execute(), after rendering.
        self._keep_window_fields(select, interval_start, interval_end)
        self.bucket = bucket
        self.prefix = prefix
        self.media_type = media_type
        self.skip_when_all_skipped = skip_when_all_skipped
        self.limits = ListingLimits(page_size, max_objects_per_file)
        self.destination = destination
        self.destination_conn_id = destination_conn_id
        self.expiry = expiry
        self.shorten_to_credentials = shorten_to_credentials

    # Store-specific parts -------------------------------------------------------------------

    def credentials_expire_at(self) -> datetime | None:
        """When the signing credentials stop being valid; None when they do not expire."""
        raise NotImplementedError

    def iter_objects(self) -> Iterator[StoredObject]:
        raise NotImplementedError

    def make_signer(self, expiry: EffectiveExpiry) -> Signer:
        raise NotImplementedError

    def lookup_objects(self, keys: Sequence[str]) -> tuple[list[StoredObject], list[str]]:
        """The objects of ``keys`` that exist, and the keys that do not."""
        raise NotImplementedError

    # Shared flow -----------------------------------------------------------------------------

    def step_lineage(self, result: Mapping[str, Any]) -> Any:
        """The listed bucket and prefix in; the references files written out (their final names)."""
        chunks = result.get("chunks") or [{"references_uri": result.get("references_uri")}]
        return lineage.operator_lineage(
            inputs=[lineage.source_dataset(self.scheme, self.bucket, self.prefix)],
            outputs=[lineage.dataset_for_uri(c["references_uri"]) for c in chunks if c.get("references_uri")],
            run_facets=lineage.roboflow_run_facets(
                counts={"references": result.get("count"), "skipped": result.get("skipped_count")}
            ),
        )

    @property
    def source_uri(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.prefix}"

    def _validate(self) -> None:
        if not isinstance(self.bucket, str) or not self.bucket or "/" in self.bucket:
            raise ValueError(f"bucket must be a bucket name without slashes; got {self.bucket!r}")
        if not isinstance(self.prefix, str) or self.prefix.startswith("/"):
            raise ValueError(
                f"prefix must be a key prefix relative to the bucket (no leading '/'); got {self.prefix!r}"
            )
        self.limits.check()

    def execute(self, context: Context) -> dict[str, Any]:
        self._validate()
        media_type = validate_media_type(self.media_type)
        requested = parse_expiry(self.expiry)
        window = self.resolve_selection(context)
        destination = references_file_path(self.destination, self.destination_conn_id)

        expiry = effective_expiry(
            requested, self.credentials_expire_at(), shorten_to_credentials=self.shorten_to_credentials
        )
        if expiry.limited_by_credentials:
            self.log.warning(
                "Signed URLs will expire after %d s at %s instead of the requested %d s: the signing "
                "credentials expire then",
                expiry.seconds,
                expiry.expires_at.isoformat(),
                expiry.requested_seconds,
            )
        self.log.info(
            "Listing %s under %s, %s; signing for %d s",
            media_type,
            self.source_uri,
            window.describe(),
            expiry.seconds,
        )
        common: dict[str, Any] = {
            "source": self.source_uri,
            "media_type": media_type,
            "window": window,
            "expiry": expiry,
            # A repair takes the objects its window left without a result, whatever the record says.
            "record": None if self.repair_of else self._processed_content(),
        }
        objects: Iterable[StoredObject]
        if self.repair_of:
            objects, common["also_skipped"] = self._repair_objects()
        else:
            objects = self.iter_objects()
        if is_dry_run(self.count_only):
            return self._count_only(objects, common)
        if self.limits.max_objects_per_file is None:
            summary = write_references(objects, self.make_signer(expiry), destination, **common)
        else:
            summary = self._write_chunks(objects, destination, expiry, common)
        self._log_summary(summary)
        # Objects that were all skipped still need their window's manifest, when a later step writes it.
        if summary.count == 0 and (summary.skipped_count == 0 or self.skip_when_all_skipped):
            raise AirflowSkipException(
                f"no new {media_type} under {self.source_uri} in {window.describe()}"
                + (f" (skipped: {dict(summary.skipped)})" if summary.skipped else "")
            )
        return summary.to_dict()

    def _count_only(self, objects: Iterable[StoredObject], common: dict[str, Any]) -> dict[str, Any]:
        """A dry run: the window counted and its skipped objects named; nothing signed or written."""
        from include.roboflow_batch.references.chunked import planned_chunks
        from include.roboflow_batch.references.generate import count_references

        summary = count_references(objects, **common)
        self._log_summary(summary)
        self.log.info("Dry run: nothing was signed or written.")
        result = summary.to_dict()
        per_file = self.limits.max_objects_per_file or max(summary.count, 1)
        return {**result, "dry_run": True, "chunks": planned_chunks(summary.count, per_file)}

    def _processed_content(self) -> RecordIndex | None:
        """The processed-content record, when this listing leaves out content processed before."""
        if not self.processed_content:
            return None
        from airflow.sdk.exceptions import AirflowFailException

        from include.roboflow_batch.content.record import ContentRecord, RecordError, WindowRef

        record = ContentRecord(
            ObjectStoragePath(self.processed_content, conn_id=self.processed_content_conn_id)
        )
        current = WindowRef.of_run(self.select, self.interval_start, self.interval_end)
        try:
            index = record.load(current)
        except RecordError as exc:
            raise AirflowFailException(f"{self.task_id}: {exc}") from None
        self.log.info(
            "Content already processed: %d digests in %d table(s) of %s",
            index.size,
            len(index.tables),
            self.processed_content,
        )
        return index

    def _repair_objects(self) -> tuple[list[StoredObject], list[tuple[str, str]]]:
        """The objects a repair of the window exported to ``repair_of`` takes (looked up again, so
        their URLs are signed anew), and those it cannot take with the reason."""
        from airflow.sdk.exceptions import AirflowFailException

        from include.roboflow_batch.media import SKIP_NOT_FOUND
        from include.roboflow_batch.repair.selection import RepairRefused, objects_to_repair, window_manifest

        try:
            manifest = window_manifest(str(self.repair_of), self.repair_conn_id)
        except RepairRefused as exc:
            raise AirflowFailException(f"repair_of: {exc}") from None
        keys: list[str] = []
        refused: list[tuple[str, str]] = []
        for obj in objects_to_repair(manifest):
            if not obj.source_key:
                refused.append((obj.name, "source-key-unknown"))
            elif not obj.source_key.startswith(self.prefix):
                raise AirflowFailException(
                    f"repair_of: the manifest of {self.repair_of} names {obj.source_key!r}, which is not "
                    f"under the source {self.source_uri}; refusing to sign it"
                )
            else:
                keys.append(obj.source_key)
        found, missing = self.lookup_objects(keys)
        self.log.info(
            "Repair of %s: %d objects to take again, %d found under %s",
            self.repair_of,
            len(keys) + len(refused),
            len(found),
            self.source_uri,
        )
        return found, refused + [(key, SKIP_NOT_FOUND) for key in missing]

    def _write_chunks(
        self,
        objects: Iterable[StoredObject],
        destination: ObjectStoragePath,
        expiry: EffectiveExpiry,
        common: dict[str, Any],
    ) -> ReferencesSummary:
        """One references file per ``max_objects_per_file`` objects, as many as may be mapped."""
        from airflow.sdk.exceptions import AirflowFailException

        from include.roboflow_batch.references.chunked import TooManyChunksError, write_chunked_references

        try:
            summary = write_chunked_references(
                objects,
                self.make_signer(expiry),
                destination,
                max_objects_per_file=self.limits.max_objects_per_file or 1,
                max_files=max_map_length(),
                **common,
            )
        except TooManyChunksError as exc:
            raise AirflowFailException(f"{self.task_id}: {exc}") from None
        if len(summary.chunks) > 1:
            self.log.info(
                "Split %d references into %d files of at most %d",
                summary.count,
                len(summary.chunks),
                self.limits.max_objects_per_file,
            )
        return summary

    def _log_summary(self, summary: ReferencesSummary) -> None:
        self.log.info("Wrote %d references to %s", summary.count, summary.references_uri or "(nothing)")
        for reason, count in sorted(summary.skipped.items()):
            self.log.warning("Skipped %d object(s): %s", count, reason)
        for example in summary.skipped_examples:
            self.log.warning("Skipped %s: %s", example["key"], example["reason"])


class S3ReferencesOperator(_ReferencesOperator):
    """
    Write a references JSONL of SigV4-signed GET URLs for the new images or videos under an S3 prefix.

    Works with AWS and S3-compatible stores (Cloudflare R2, Backblaze B2, MinIO, moto) through the
    connection's ``endpoint_url`` and ``region_name`` (R2 wants ``auto``). URLs are always SigV4, signed
    in-process, and never outlive the signing credentials silently.

    :param bucket: source bucket.
    :param prefix: key prefix to list (recursively).
    :param destination: full URI of the JSONL to write (``file://``, ``s3://``, ``gs://``); keep it private.
    :param aws_conn_id: Airflow AWS connection used to list and to sign.
    :param destination_conn_id: connection for ``destination`` (ObjectStoragePath).
    :param media_type: ``"images"`` or ``"videos"``: which extensions are kept (case-insensitive).
    :param expiry: URL lifetime (timedelta or seconds), at most 7 days; 24 h by default.
    :param select: ``"interval"`` (objects last modified in ``[data_interval_start, data_interval_end)``)
        or ``"all"``.
    :param interval_start: explicit window start (with ``interval_end``), e.g. for manual runs.
    :param interval_end: explicit window end (exclusive).
    :param shorten_to_credentials: when temporary credentials expire before ``expiry``, sign for their
        remaining lifetime with a warning instead of failing.
    :param disable_flexible_checksums: keep botocore's CRC checksum parameters out of requests
        (needed for some S3-compatible stores, e.g. R2).
    :param page_size: objects per listing page (at most 1000).
    :param max_objects_per_file: split the references into files of at most this many lines (one
        staging batch each), at most ``[core] max_map_length`` files; ``None`` writes one file.
    :param repair_of: the export folder of a window (its ``manifest.json``): instead of listing a
        window, take again the objects that window's answer did not process (failed at ingest or in
        processing, or without a result row), each looked up and signed anew; an object the source
        no longer has is skipped as ``not-found``. Objects outside ``prefix`` are refused.
    :param repair_conn_id: connection to read ``repair_of`` with.
    :param skip_when_all_skipped: when the window holds objects but every one was skipped (empty,
        oversize, unsupported type), skip the task (the default) or, with ``False``, return the
        summary with ``count`` 0 and the skipped list, so that a window manifest can account for them.
    :param processed_content: folder URI of the pipeline's processed-content record
        (``include.roboflow_batch.content.record``): objects whose content (checksum and size) another
        window processed are skipped as ``already-processed`` with that window, and the content of
        the objects sent is listed in ``content_uri`` for the record. ``None``: every object is sent.
    :param processed_content_conn_id: connection for ``processed_content``.
    :param count_only: count the window and name what it would skip, without signing or writing
        anything (templated: a run's ``dry_run`` param); the summary then has ``dry_run`` True, no
        ``references_uri`` and the ``chunks`` the references would fill.
    :return: ``{"references_uri", "source", "media_type", "count", "skipped_count", "skipped",
        "skipped_examples", "skipped_uri", "content_uri", "expires_at", "expiry_seconds"}``; skipped
        when nothing new is found.
        With ``max_objects_per_file`` also ``"chunks"``: ``[{"index", "references_uri", "count"}]``;
        ``references_uri`` is then None when there are several files.
    """

    scheme = "s3"

    def __init__(
        self,
        *,
        aws_conn_id: str | None = "aws_default",
        disable_flexible_checksums: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.disable_flexible_checksums = disable_flexible_checksums
        self._session: Any = None
        self._client: Any = None
        self._secret_key = ""

    def _connect(self) -> None:
        if self._client is not None:
            return
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from include.roboflow_batch.references.s3 import s3_session_and_client

        hook = S3Hook(aws_conn_id=self.aws_conn_id)
        self._session, self._client = s3_session_and_client(
            hook, disable_flexible_checksums=self.disable_flexible_checksums
        )

    def credentials_expire_at(self) -> datetime | None:
        from include.roboflow_batch.references.s3 import credentials_expire_at

        self._connect()
        _access_key, self._secret_key, expires_at = credentials_expire_at(self._session)
        return expires_at

    def iter_objects(self) -> Iterator[StoredObject]:
        from include.roboflow_batch.references.s3 import iter_s3_objects

        self._connect()
        return iter_s3_objects(self._client, self.bucket, self.prefix, page_size=self.limits.page_size)

    def lookup_objects(self, keys: Sequence[str]) -> tuple[list[StoredObject], list[str]]:
        from include.roboflow_batch.references.s3 import head_s3_objects

        self._connect()
        return head_s3_objects(self._client, self.bucket, keys)

    def make_signer(self, expiry: EffectiveExpiry) -> Signer:
        from include.roboflow_batch.references.sigv4 import S3GetUrlSigner

        self._connect()
        signer = S3GetUrlSigner(
            self._client, self.bucket, expiry.seconds, self._secret_key, probe_prefix=self.prefix
        )
        if not signer.fast:
            self.log.info("Signing with botocore's generate_presigned_url for every key")
        return signer


class GCSReferencesOperator(_ReferencesOperator):
    """
    Write a references JSONL of V4-signed GET URLs for the new images or videos under a GCS prefix.

    Objects are listed through ``GCSHook``. URLs are signed in-process with the credentials of
    ``signing_conn_id`` (default: ``gcp_conn_id``): locally when they hold a private key (key file or
    ``keyfile_dict``), otherwise through IAM signBlob as ``service_account_email`` (application default
    credentials; needs ``roles/iam.serviceAccountTokenCreator``). V4 URLs carry no access token, so
    their lifetime does not depend on the token's.

    :param gcp_conn_id: Airflow Google Cloud connection used to list (and to sign by default).
    :param signing_conn_id: a separate connection whose credentials sign, e.g. a dedicated signer
        service account.
    :param service_account_email: sign through IAM signBlob as this service account.
    Other parameters and the return value are those of :class:`S3ReferencesOperator`.
    """

    scheme = "gs"

    def __init__(
        self,
        *,
        gcp_conn_id: str = "google_cloud_default",
        signing_conn_id: str | None = None,
        service_account_email: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.gcp_conn_id = gcp_conn_id
        self.signing_conn_id = signing_conn_id
        self.service_account_email = service_account_email
        self._client: Any = None

    def _storage_client(self) -> Any:
        if self._client is None:
            from airflow.providers.google.cloud.hooks.gcs import GCSHook

            self._client = GCSHook(gcp_conn_id=self.gcp_conn_id).get_conn()
        return self._client

    def credentials_expire_at(self) -> datetime | None:
        # A V4 signature is made with the service account's key (local or Google-managed through
        # signBlob); the URL holds no token, so only the 7-day cap bounds it.
        return None

    def iter_objects(self) -> Iterator[StoredObject]:
        from include.roboflow_batch.references.gcs import iter_gcs_objects

        return iter_gcs_objects(
            self._storage_client(), self.bucket, self.prefix, page_size=self.limits.page_size
        )

    def lookup_objects(self, keys: Sequence[str]) -> tuple[list[StoredObject], list[str]]:
        from include.roboflow_batch.references.gcs import get_gcs_objects

        return get_gcs_objects(self._storage_client(), self.bucket, keys)

    def make_signer(self, expiry: EffectiveExpiry) -> Signer:
        from airflow.providers.google.common.hooks.base_google import GoogleBaseHook

        from include.roboflow_batch.references.gcs import GCSGetUrlSigner

        credentials = GoogleBaseHook(gcp_conn_id=self.signing_conn_id or self.gcp_conn_id).get_credentials()
        return GCSGetUrlSigner(
            self._storage_client(),
            self.bucket,
            timedelta(seconds=expiry.seconds),
            credentials,
            service_account_email=self.service_account_email,
        )
