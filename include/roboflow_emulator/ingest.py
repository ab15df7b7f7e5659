"""Data Staging ingest: single uploads, signed-URL uploads (videos, tar shards), reference ingests.

Shards index asynchronously: each waits `ingest_delay`, fetches or unpacks its files, checks them,
then publishes the good ones to the batch and records failures in its `statusMetadata`.
"""

from __future__ import annotations

import fnmatch
import io
import json
import re
import secrets
import tarfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from include.roboflow_emulator.config import (
    MAX_IMAGE_BYTES,
    MAX_IMAGE_REFERENCES,
    MAX_VIDEO_REFERENCES,
    EmulatorConfig,
)
from include.roboflow_emulator.errors import ApiError, bad_request, conflict, not_found
from include.roboflow_emulator.fetching import FetchError, ReferenceFetcher, redact_url
from include.roboflow_emulator.media import (
    IMAGE_EXTENSIONS,
    MAX_VIDEO_BYTES,
    VIDEO_EXTENSIONS,
    check_file,
    extension,
    oversize_failure,
)
from include.roboflow_emulator.signing import UrlSigner
from include.roboflow_emulator.state import (
    MULTIPART_BATCH,
    SHARDED_BATCH,
    SIMPLE_BATCH,
    Batch,
    FailedFile,
    Ingest,
    Shard,
    Store,
    StoredFile,
)
from include.roboflow_emulator.switches import SwitchBoard
from include.roboflow_emulator.timestamps import rfc3339, utc_now
from include.roboflow_emulator.webhooks import WebhookSender

BATCH_ID_PATTERN = re.compile(r"^[a-z0-9_-]{1,64}$")
NOTIFICATION_CATEGORIES = ("ingest-status", "files-status")
NOTIFICATION_CONFIG_MEMBER = "notification_config.json"
STAGING_EVENT = "roboflow-data-staging-notification-v1"


def validate_batch_id(batch_id: str) -> str:
    if not BATCH_ID_PATTERN.match(batch_id):
        raise bad_request(
            f"batchId {batch_id!r} is invalid: use 1-64 characters of lower-case letters, digits, "
            "'-' and '_'."
        )
    return batch_id


@dataclass
class PendingFile:
    """A file waiting for its shard to index: bytes in hand (tar) or a URL to fetch (references)."""

    name: str
    content: bytes | None = None
    url: str | None = None
    failure: FailedFile | None = None


class IngestService:
    """Data Staging: batches, their uploads and reference ingests, shards and their indexing."""

    def __init__(
        self,
        store: Store,
        config: EmulatorConfig,
        fetcher: ReferenceFetcher,
        webhooks: WebhookSender,
        signer: UrlSigner,
        switches: SwitchBoard,
    ) -> None:
        self.store = store
        self.config = config
        self.fetcher = fetcher
        self.webhooks = webhooks
        self.signer = signer
        self.switches = switches

    # ---- batches -------------------------------------------------------------------------

    def get_batch(self, batch_id: str) -> Batch:
        with self.store.lock:
            batch = self.store.live_batch(batch_id)
            if batch is None:
                raise not_found(f"Batch {batch_id!r} not found in workspace {self.config.workspace!r}.")
            return batch

    def _new_batch(
        self, batch_id: str, display_name: str | None, batch_type: str, content_type: str
    ) -> Batch:
        """A fresh batch under ``batch_id``, in place of an expired one when the switches allow it."""
        expired = self.store.batches.get(batch_id)
        if expired is not None and self.switches.current.expired_batch_ids == "refuse":
            raise conflict(
                f"Batch {batch_id!r} expired at {rfc3339(expired.expiry)}; the id of an expired batch "
                "cannot be used again. Use a new batchId."
            )
        batch = Batch(
            batch_id=batch_id,
            display_name=display_name or batch_id,
            batch_type=batch_type,
            content_type=content_type,
            created=self.store.clock.now(),
            retention=timedelta(seconds=self.config.retention_seconds),
        )
        self.store.batches[batch_id] = batch
        return batch

    def _ensure_batch(
        self, batch_id: str, display_name: str | None, batch_type: str, content_type: str
    ) -> Batch:
        """The batch to ingest into, created on first use; refuses to mix upload styles or media."""
        validate_batch_id(batch_id)
        with self.store.lock:
            batch = self.store.live_batch(batch_id)
            if batch is None:
                return self._new_batch(batch_id, display_name, batch_type, content_type)
            if batch.batch_type == MULTIPART_BATCH:
                raise bad_request(
                    f"Batch {batch_id!r} is a job output (multipart-batch); it cannot take uploads."
                )
            if batch.content_type != content_type:
                raise bad_request(
                    f"Batch {batch_id!r} holds {batch.content_type}; {content_type} cannot be added to it. "
                    "Use a separate batch."
                )
            if batch.batch_type != batch_type:
                raise bad_request(
                    f"Batch {batch_id!r} was filled with "
                    f"{'single uploads' if batch.batch_type == SIMPLE_BATCH else 'bulk uploads'} "
                    f"({batch.batch_type}); single and bulk uploads cannot be mixed in one batch. "
                    "Use a separate batch."
                )
            return batch

    # ---- single uploads ------------------------------------------------------------------

    def upload_image(self, batch_id: str, file_name: str, content: bytes, display_name: str | None) -> None:
        if not file_name:
            raise bad_request("Query parameter fileName is required.")
        failure = check_file("images", file_name, content)
        if failure is not None:
            raise bad_request(f"{failure.type}: {failure.reason} (file {file_name!r})")
        batch = self._ensure_batch(batch_id, display_name, SIMPLE_BATCH, "images")
        with self.store.lock:
            batch.files[("", file_name)] = StoredFile(file_name, content, "images")

    def request_video_upload(self, batch_id: str, file_name: str, display_name: str | None) -> dict[str, Any]:
        if not file_name:
            raise bad_request("Query parameter fileName is required.")
        if extension(file_name) not in VIDEO_EXTENSIONS:
            raise bad_request(
                f"fileName {file_name!r} is not a video: use one of {', '.join(sorted(VIDEO_EXTENSIONS))}."
            )
        self._ensure_batch(batch_id, display_name, SIMPLE_BATCH, "videos")
        return self._signed_upload(batch_id, "video", file_name, MAX_VIDEO_BYTES)

    def request_bulk_upload(self, batch_id: str, display_name: str | None) -> dict[str, Any]:
        self._ensure_batch(batch_id, display_name, SHARDED_BATCH, "images")
        return self._signed_upload(batch_id, "tar", None, 4 * 1024 * 1024 * 1024)

    def _signed_upload(
        self, batch_id: str, kind: str, file_name: str | None, max_bytes: int
    ) -> dict[str, Any]:
        upload_id = uuid.uuid4().hex
        headers = {
            "x-goog-content-length-range": f"0,{max_bytes}",
            "x-goog-meta-upload-token": secrets.token_hex(8),
        }
        with self.store.lock:
            self.store.uploads[upload_id] = {
                "batch_id": batch_id,
                "kind": kind,
                "file_name": file_name,
                "headers": headers,
                "max_bytes": max_bytes,
            }
        url = self.signer.sign("PUT", f"/storage/uploads/{upload_id}", self.config.upload_url_ttl)
        return {"signedURLDetails": {"uploadURL": url, "extensionHeaders": headers}}

    def upload_spec(self, upload_id: str) -> dict[str, Any]:
        with self.store.lock:
            spec = self.store.uploads.get(upload_id)
        if spec is None:
            raise ApiError(404, f"Upload {upload_id!r} is unknown (the emulator may have been reset).")
        return spec

    def receive_upload(self, upload_id: str, body: bytes) -> None:
        """The PUT to a signed upload URL: a video joins its batch, a tar becomes a shard."""
        spec = self.upload_spec(upload_id)
        batch = self.get_batch(spec["batch_id"])
        with self.store.lock:
            if upload_id in batch.consumed_uploads:
                return  # a repeated PUT of the same object changes nothing
            batch.consumed_uploads.add(upload_id)
        if spec["kind"] == "video":
            with self.store.lock:
                batch.files[("", spec["file_name"])] = StoredFile(spec["file_name"], body, "videos")
            return
        self._ingest_tar(batch, body)

    def _ingest_tar(self, batch: Batch, body: bytes) -> None:
        pending: list[PendingFile] = []
        config: dict[str, Any] = {}
        try:
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as archive:
                for member in archive.getmembers():
                    if not member.isfile():
                        continue
                    data = archive.extractfile(member)
                    content = data.read() if data is not None else b""
                    if member.name == NOTIFICATION_CONFIG_MEMBER:
                        config = self._notification_config(content)
                        continue
                    pending.append(self._tar_member(member.name, content))
        except (tarfile.TarError, EOFError) as exc:
            pending = [
                PendingFile(
                    "<archive>",
                    failure=FailedFile(
                        "<archive>",
                        "unsupported-file-type",
                        f"Upload is not an uncompressed tar archive: {exc}",
                    ),
                )
            ]
        ingest_id = str(config.get("ingestId") or uuid.uuid4().hex)
        url = config.get("notificationsURL")
        with self.store.lock:
            shard = Shard(str(uuid.uuid4()), ingest_id, expected_files=len(pending))
            batch.shards.append(shard)
            # The official client writes one ingest id into every tar of a local upload: each tar
            # is a shard of that same ingest (repeated PUTs of one tar are caught by upload id).
            ingest = batch.ingests.get(ingest_id)
            if ingest is None:
                batch.ingests[ingest_id] = Ingest(
                    ingest_id, [shard.shard_id], str(url) if url else None, NOTIFICATION_CATEGORIES
                )
            else:
                ingest.shard_ids.append(shard.shard_id)
        self._start_indexing(batch, [(shard, pending)], "images")

    @staticmethod
    def _notification_config(content: bytes) -> dict[str, Any]:
        try:
            config = json.loads(content)
        except ValueError:
            return {}
        return config if isinstance(config, dict) else {}

    @staticmethod
    def _tar_member(name: str, content: bytes) -> PendingFile:
        if "/" in name.strip("./"):
            return PendingFile(
                name,
                failure=FailedFile(
                    name, "unsupported-file-type", "Archive members must sit at the archive root."
                ),
            )
        name = name.removeprefix("./")
        if extension(name) not in IMAGE_EXTENSIONS:
            return PendingFile(
                name,
                failure=FailedFile(
                    name,
                    "unsupported-file-type",
                    f"Image file name must end with one of: {', '.join(sorted(IMAGE_EXTENSIONS))}.",
                ),
            )
        return PendingFile(name, content=content)

    # ---- reference ingests ---------------------------------------------------------------

    def ingest_references(
        self, batch_id: str, body: dict[str, Any], content_type: str, display_name: str | None
    ) -> dict[str, Any]:
        key = "imageReferences" if content_type == "images" else "videoReferences"
        limit = MAX_IMAGE_REFERENCES if content_type == "images" else MAX_VIDEO_REFERENCES
        validate_batch_id(batch_id)
        ingest_id = body.get("ingestId")
        if ingest_id is not None and (not isinstance(ingest_id, str) or not ingest_id):
            raise bad_request("ingestId must be a non-empty string.")
        url, categories = self._notification_options(body)
        with self.store.lock:
            existing = self.store.live_batch(batch_id)
            if ingest_id and existing is not None and ingest_id in existing.ingests:
                previous = existing.ingests[ingest_id]
                response: dict[str, Any] = {"ingestId": ingest_id, "duplicated": True}
                if content_type == "images":
                    response["shardIds"] = list(previous.shard_ids)
                return response
        references = self._references(body, key, limit)
        batch = self._ensure_batch(batch_id, display_name, SHARDED_BATCH, content_type)
        ingest_id = ingest_id or uuid.uuid4().hex
        size = self.config.shard_size if content_type == "images" else 1
        shards: list[tuple[Shard, list[PendingFile]]] = []
        with self.store.lock:
            if ingest_id in batch.ingests:  # a concurrent twin of this request won the race
                response = {"ingestId": ingest_id, "duplicated": True}
                if content_type == "images":
                    response["shardIds"] = list(batch.ingests[ingest_id].shard_ids)
                return response
            for start in range(0, len(references), size):
                chunk = [PendingFile(name, url=ref_url) for name, ref_url in references[start : start + size]]
                shard = Shard(str(uuid.uuid4()), ingest_id, expected_files=len(chunk))
                batch.shards.append(shard)
                shards.append((shard, chunk))
            batch.ingests[ingest_id] = Ingest(ingest_id, [s.shard_id for s, _ in shards], url, categories)
        self._start_indexing(batch, shards, content_type)
        response = {"ingestId": ingest_id, "duplicated": False}
        if content_type == "images":
            response["shardIds"] = [s.shard_id for s, _ in shards]
        return response

    @staticmethod
    def _notification_options(body: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
        url = body.get("notificationsURL")
        if url is not None and (not isinstance(url, str) or not url.startswith(("http://", "https://"))):
            raise bad_request(f"notificationsURL must be an http(s) URL, got {url!r}.")
        raw = body.get("notificationCategories")
        if raw is None:
            return url, ("ingest-status",)
        if not isinstance(raw, list) or any(c not in NOTIFICATION_CATEGORIES for c in raw):
            raise bad_request(
                f"notificationCategories must be a list drawn from {list(NOTIFICATION_CATEGORIES)}, "
                f"got {raw!r}."
            )
        return url, tuple(dict.fromkeys(raw))

    def _references(self, body: dict[str, Any], key: str, limit: int) -> list[tuple[str, str]]:
        inline, by_url = body.get(key), body.get(f"{key}URL")
        if (inline is None) == (by_url is None):
            raise bad_request(f"Give exactly one of {key} (a list) or {key}URL (a JSONL URL).")
        if by_url is not None:
            inline = self._fetch_reference_list(key, by_url)
        if not isinstance(inline, list) or not inline:
            raise bad_request(f"{key} must be a non-empty list of {{name, url}} objects.")
        if len(inline) > limit:
            raise bad_request(
                f"{key} holds {len(inline)} references; at most {limit} are accepted per request."
            )
        references: list[tuple[str, str]] = []
        for index, ref in enumerate(inline):
            if not isinstance(ref, dict):
                raise bad_request(f"{key}[{index}] must be an object with name and url.")
            name, ref_url = ref.get("name"), ref.get("url")
            if not isinstance(name, str) or not name:
                raise bad_request(f"{key}[{index}].name must be a non-empty string.")
            if not isinstance(ref_url, str) or not ref_url:
                raise bad_request(f"{key}[{index}].url must be a non-empty string.")
            references.append((name, ref_url))
        # Names are the files' names inside the batch: a repeat would silently replace a file and
        # leave the shard counting more files than the batch holds.
        counts = Counter(name for name, _ in references)
        repeated = sorted(name for name, count in counts.items() if count > 1)
        if repeated:
            shown = ", ".join(repr(n) for n in repeated[:10]) + (" ..." if len(repeated) > 10 else "")
            raise bad_request(
                f"{key} repeats file names ({len(repeated)}): {shown}; each name must be unique."
            )
        return references

    def _fetch_reference_list(self, key: str, url: object) -> list[Any]:
        if not isinstance(url, str):
            raise bad_request(f"{key}URL must be a string URL.")
        try:
            raw = self.fetcher.fetch(f"{key}URL", url, 64 * 1024 * 1024)
        except FetchError as exc:
            raise bad_request(
                f"{key}URL could not be read ({exc.failure.type}): {exc.failure.reason}"
            ) from exc
        entries: list[Any] = []
        for number, line in enumerate(raw.decode("utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except ValueError as exc:
                raise bad_request(f"{key}URL {redact_url(url)}: line {number} is not JSON.") from exc
        return entries

    # ---- RoboQL ------------------------------------------------------------------------------

    def roboql_ingest(self, batch_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A RoboQL subset over staged image batches: `batch:<id>` terms, optional `name:<glob>`."""
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise bad_request("query must be a non-empty string.")
        sources, patterns = [], []
        for term in query.split():
            field_name, _, value = term.partition(":")
            if field_name == "batch" and value:
                sources.append(value)
            elif field_name == "name" and value:
                patterns.append(value)
            else:
                raise bad_request(
                    f"Unsupported RoboQL term {term!r}: the emulator understands "
                    "batch:<batch-id> and name:<glob>."
                )
        if not sources:
            raise bad_request("The RoboQL query must select at least one batch with batch:<batch-id>.")
        files: list[PendingFile] = []
        for source in sources:
            for stored in self.get_batch(source).sorted_files():
                if stored.content_type != "images":
                    continue
                if patterns and not any(fnmatch.fnmatch(stored.file_name, p) for p in patterns):
                    continue
                files.append(PendingFile(stored.file_name, content=stored.content))
        ingest_id = body.get("ingestId") or uuid.uuid4().hex
        url, _ = self._notification_options(body)
        batch = self._ensure_batch(batch_id, body.get("displayName"), SHARDED_BATCH, "images")
        with self.store.lock:
            if ingest_id in batch.ingests:
                return {"ingestId": ingest_id, "duplicated": True}
            shards = []
            for start in range(0, max(len(files), 1), self.config.shard_size):
                chunk = files[start : start + self.config.shard_size]
                shard = Shard(str(uuid.uuid4()), ingest_id, expected_files=len(chunk))
                batch.shards.append(shard)
                shards.append((shard, chunk))
            batch.ingests[ingest_id] = Ingest(
                ingest_id, [s.shard_id for s, _ in shards], url, ("ingest-status",)
            )
        self._start_indexing(batch, shards, "images")
        return {"ingestId": ingest_id, "duplicated": False, "status": "ok"}

    # ---- indexing ------------------------------------------------------------------------

    def _start_indexing(
        self, batch: Batch, shards: list[tuple[Shard, list[PendingFile]]], content_type: str
    ) -> None:
        epoch = self.store.epoch
        started = time.monotonic()
        for shard, files in shards:
            threading.Thread(
                target=self._index_shard,
                args=(batch, shard, files, content_type, started, epoch),
                name=f"index-{shard.shard_id[:8]}",
                daemon=True,
            ).start()

    def _index_shard(
        self,
        batch: Batch,
        shard: Shard,
        files: list[PendingFile],
        content_type: str,
        started: float,
        epoch: int,
    ) -> None:
        max_bytes = MAX_IMAGE_BYTES if content_type == "images" else MAX_VIDEO_BYTES
        to_fetch = [(f.name, f.url) for f in files if f.url is not None and f.failure is None]
        fetched = iter(self.fetcher.fetch_many(to_fetch, max_bytes) if to_fetch else [])
        good: list[StoredFile] = []
        failed: list[FailedFile] = []
        for pending in files:
            failure, content = pending.failure, pending.content
            if failure is None and pending.url is not None:
                result = next(fetched)
                if isinstance(result, FetchError):
                    failure = result.failure
                    if failure.type == "file-size-limit-exceeded":
                        failure = oversize_failure(pending.name) if content_type == "images" else failure
                else:
                    content = result
            if failure is None and content is not None:
                failure = check_file(content_type, pending.name, content)
            if failure is not None:
                failed.append(failure)
            else:
                good.append(StoredFile(pending.name, content or b"", content_type, shard_id=shard.shard_id))
        self.config.wait_out("ingest_delay", started)
        with self.store.lock:
            if self.store.epoch != epoch:
                return
            for stored in good:
                batch.files[("", stored.file_name)] = stored
            shard.ingested_files = [f.file_name for f in good]
            shard.failed_files = failed
            shard.event_timestamp = utc_now()
            if not failed:
                shard.status_name, shard.status_type = "ingested", "success"
            elif good:
                shard.status_name, shard.status_type = "partially-ingested", "warning"
            else:
                shard.status_name, shard.status_type = "ingest-failed", "error"
            ingest = batch.ingests.get(shard.ingest_id)
            ingest_done = ingest is not None and all(
                s.status_type != "info" for s in batch.shards if s.shard_id in set(ingest.shard_ids)
            )
            ingest_shards = [s for s in batch.shards if ingest and s.shard_id in set(ingest.shard_ids)]
        if ingest is None or not ingest.notifications_url:
            return
        if "files-status" in ingest.categories:
            self.webhooks.send(ingest.notifications_url, self._files_status_event(batch, shard))
        if ingest_done and "ingest-status" in ingest.categories:
            self.webhooks.send(
                ingest.notifications_url, self._ingest_status_event(batch, ingest, ingest_shards)
            )

    @staticmethod
    def _files_status_event(batch: Batch, shard: Shard) -> dict[str, Any]:
        return {
            "type": STAGING_EVENT,
            "ingest_id": shard.ingest_id,
            "batch_id": batch.batch_id,
            "shard_id": shard.shard_id,
            "notification": {
                "type": "ingest-files-status-notification-v1",
                "success": shard.status_type != "error",
                "ingested_files": list(shard.ingested_files),
                "failed_files": [
                    {"type": f.type, "file_name": f.file_name, "reason": f.reason} for f in shard.failed_files
                ],
                "content_truncated": False,
            },
        }

    @staticmethod
    def _ingest_status_event(batch: Batch, ingest: Ingest, shards: list[Shard]) -> dict[str, Any]:
        ingested = sum(len(s.ingested_files) for s in shards)
        notification: dict[str, Any] = {"type": "ingest-status-notification-v1", "success": ingested > 0}
        failures = [f for s in shards for f in s.failed_files]
        if ingested == 0 and failures:
            notification["error_details"] = {"type": failures[0].type, "reason": failures[0].reason}
        elif ingested == 0:
            notification["error_details"] = {"type": "empty-ingest", "reason": "The ingest held no files."}
        return {
            "type": STAGING_EVENT,
            "ingest_id": ingest.ingest_id,
            "batch_id": batch.batch_id,
            "shard_id": None,
            "notification": notification,
        }
