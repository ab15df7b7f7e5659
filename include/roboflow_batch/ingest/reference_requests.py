"""Sending references to a staging batch: inline chunks or one signed URL (D10 ``POST .../bulk-upload/
image-references``, D11 ``POST .../bulk-upload/video-references``).

Every request carries a deterministic ingest id, so a repeat is answered ``duplicated`` and counted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from include.roboflow_batch.api.client import ReferenceIngest, RoboflowClient
from include.roboflow_batch.api.ids import derive_ingest_id
from include.roboflow_batch.api.models import IngestResult
from include.roboflow_batch.hooks.errors import roboflow_errors
from include.roboflow_batch.ingest.references_file import ReferencesSpool
from include.roboflow_batch.logs import TaskLog


@dataclass(frozen=True)
class ReferenceTarget:
    """The batch the references go to and the options every request of one ingest shares."""

    client: RoboflowClient
    batch_id: str
    media_type: str
    display_name: str
    notifications_url: str | None
    notification_categories: list[str] | None
    conn_id: str
    log: TaskLog

    def send(
        self,
        ingest_id: str,
        references: list[dict[str, str]] | None = None,
        references_url: str | None = None,
    ) -> IngestResult:
        """One D10 image references ingest or D11 video references ingest request, with either ``references``
        or ``references_url``."""
        options = ReferenceIngest(
            ingest_id=ingest_id,
            display_name=self.display_name,
            notifications_url=self.notifications_url,
            notification_categories=self.notification_categories,
        )
        if references is not None:
            options["references"] = references
        else:
            options["references_url"] = references_url
        if self.media_type == "images":
            return self.client.ingest_image_references(self.batch_id, **options)
        return self.client.ingest_video_references(self.batch_id, **options)


@dataclass(frozen=True)
class ReferencesSent:
    ingest_ids: list[str]
    duplicated_chunks: int


def url_without_query(url: str) -> str:
    """A URL fit for logs: signed URLs carry their credentials in the query string."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def send_chunks(target: ReferenceTarget, spool: ReferencesSpool) -> ReferencesSent:
    """Send the spooled references inline, one request per chunk."""
    ingest_ids: list[str] = []
    duplicated = 0
    for index, chunk in spool.iter_chunks():
        ingest_id = derive_ingest_id(target.batch_id, index, spool.chunk_fingerprints[index])
        action = f"ingest of references chunk {index} ({len(chunk)} references) into {target.batch_id}"
        with roboflow_errors(action, target.conn_id):
            result = target.send(ingest_id, references=[reference.to_wire() for reference in chunk])
        ingest_ids.append(ingest_id)
        if result.duplicated:
            duplicated += 1
            target.log.info(
                "Chunk %d (%s) was already ingested: the service answered duplicated", index, ingest_id
            )
        else:
            target.log.info("Chunk %d (%s): %d references sent", index, ingest_id, len(chunk))
    return ReferencesSent(ingest_ids=ingest_ids, duplicated_chunks=duplicated)


def send_url(target: ReferenceTarget, references_url: str, spool: ReferencesSpool | None) -> ReferencesSent:
    """Let the service fetch ``references_url`` itself: one request, named by the file's names when this
    worker could read it, else by the URL without its signature."""
    fingerprint = (
        spool.names_fingerprint
        if spool is not None
        else hashlib.blake2b(url_without_query(references_url).encode(), digest_size=8).hexdigest()
    )
    ingest_id = derive_ingest_id(target.batch_id, "url", fingerprint)
    with roboflow_errors(f"ingest of references URL into {target.batch_id}", target.conn_id):
        result = target.send(ingest_id, references_url=references_url)
    return ReferencesSent(ingest_ids=[ingest_id], duplicated_chunks=1 if result.duplicated else 0)
