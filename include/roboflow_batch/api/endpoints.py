"""One definition of every request: path, query, body, retry safety, time-out and response decoder.

Each function here is pure: it validates its arguments and returns a ``RequestSpec``. The sync and
async transports execute the same specs, so both clients speak exactly the same protocol.

Retry safety (``Retry``):

- ``SAFE``: repeated after any retryable failure, including ambiguous ones (time-out after
  sending, dropped connection, 5xx), because repeating cannot change the outcome. Reads; reference
  ingests (D10/D11, and D12 with an ingest id) because the server deduplicates on ``ingestId`` and
  answers ``duplicated: true``; job creation (B3) because the explicit job id makes a repeat with the
  same body a no-op (a different body is a 409); abort (B6) because the end state is the same
  however often it is asked for.
- ``UNAMBIGUOUS``: repeated only when the request certainly had no effect: the connection was
  never established, or the server answered 408/429 (it refused the request). Single image upload
  (D7), signed-URL requests (D8/D9) and RoboQL ingest without an id (D12) carry no id the server
  can deduplicate on; restart (B7) is not convergent: a repeat can restart a job the first request
  already restarted and record the overrides twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from include.roboflow_batch.api import models
from include.roboflow_batch.api.collection import Collection
from include.roboflow_batch.api.ids import validate_batch_id, validate_ingest_id
from include.roboflow_batch.api.request_spec import (
    PageSpec,
    RequestSpec,
    Retry,
    get_request,
    ignore_body,
    list_request,
    query_params,
    staging_path,
)

T = TypeVar("T")

NOTIFICATION_CATEGORIES = ("ingest-status", "files-status")
# Reference ingests make the server fetch and index files before answering (official client: 2x).
REFERENCE_INGEST_TIMEOUT_FACTOR = 2.0


# Workspace -----------------------------------------------------------------------------------------


def workspace_lookup() -> RequestSpec[str]:
    return get_request(
        "workspace lookup",
        "",
        lambda payload: models.WorkspaceEnvelope.model_validate(payload).workspace,
    )


# Data Staging --------------------------------------------------------------------------------------


def _batch_of(payload: Any) -> models.BatchMetadata:
    return models.BatchEnvelope.model_validate(payload).batch


BATCHES = Collection(
    "batch", "batches", ("D1", "D2"), staging_path, models.BatchesPage.model_validate, _batch_of
)
list_batches = BATCHES.list
get_batch = BATCHES.get


def count_batch(workspace: str, batch_id: str, part_name: str | None = None) -> RequestSpec[int]:
    return get_request(
        f"count batch {batch_id!r} (D3)",
        f"{BATCHES.item_path(workspace, batch_id)}/count",
        lambda payload: models.CountEnvelope.model_validate(payload).count,
        query_params(partName=part_name),
    )


def list_batch_parts(workspace: str, batch_id: str) -> RequestSpec[list[models.BatchPart]]:
    return get_request(
        f"list parts of batch {batch_id!r} (D4)",
        f"{BATCHES.item_path(workspace, batch_id)}/parts",
        lambda payload: models.PartsEnvelope.model_validate(payload).batch_parts,
    )


def list_batch_files(
    workspace: str,
    batch_id: str,
    part_name: str | None = None,
    page_size: int | None = None,
) -> PageSpec[models.FileMetadata]:
    return list_request(
        f"list files of batch {batch_id!r} (D5)",
        f"{BATCHES.item_path(workspace, batch_id)}/list",
        models.FilesPage.model_validate,
        page_size=page_size,
        partName=part_name,
    )


def list_shards(workspace: str, batch_id: str, page_size: int | None = None) -> PageSpec[models.ShardDetails]:
    return list_request(
        f"list shards of batch {batch_id!r} (D6)",
        f"{BATCHES.item_path(workspace, batch_id)}/shards",
        models.ShardsPage.model_validate,
        page_size=page_size,
    )


def _display_name(batch_id: str, display_name: str | None) -> str:
    # The official client always names the batch: the given name, else the batch id.
    return display_name if display_name else batch_id


def upload_image(
    workspace: str, batch_id: str, file_name: str, content: bytes, display_name: str | None = None
) -> RequestSpec[None]:
    validate_batch_id(batch_id)
    if not file_name or "/" in file_name:
        raise ValueError(f"file_name must be a plain file name without '/', got {file_name!r}")
    if not isinstance(content, bytes | bytearray):
        raise ValueError(f"content of {file_name!r} must be bytes, got {type(content).__name__}")
    return RequestSpec(
        operation=f"upload image {file_name!r} into batch {batch_id!r} (D7)",
        method="POST",
        path=f"{BATCHES.item_path(workspace, batch_id)}/upload/image",
        params=query_params(displayName=_display_name(batch_id, display_name), fileName=file_name),
        # The official client names the multipart field after the file.
        files={file_name: (file_name, bytes(content))},
        decode=ignore_body,
        retry=Retry.UNAMBIGUOUS,
    )


def _signed_url(payload: Any) -> models.SignedURLDetails:
    return models.SignedURLEnvelope.model_validate(payload).signed_url_details


def request_video_upload(
    workspace: str, batch_id: str, file_name: str, display_name: str | None = None
) -> RequestSpec[models.SignedURLDetails]:
    validate_batch_id(batch_id)
    if not file_name or "/" in file_name:
        raise ValueError(f"file_name must be a plain file name without '/', got {file_name!r}")
    return RequestSpec(
        operation=f"request upload URL for video {file_name!r} in batch {batch_id!r} (D8)",
        method="POST",
        path=f"{BATCHES.item_path(workspace, batch_id)}/upload/video",
        params=query_params(fileName=file_name, displayName=_display_name(batch_id, display_name)),
        decode=_signed_url,
        retry=Retry.UNAMBIGUOUS,
    )


def _bulk_upload(
    workspace: str,
    batch_id: str,
    route: str,
    display_name: str | None,
    operation: str,
    decode: Callable[[Any], T],
    retry: Retry,
    *,
    json: Any = None,
    timeout_factor: float = 1.0,
) -> RequestSpec[T]:
    """A POST to one of the batch's ``bulk-upload/`` routes (D9-D11), which name the batch in the query."""
    return RequestSpec(
        operation=operation,
        method="POST",
        path=f"{BATCHES.item_path(workspace, batch_id)}/bulk-upload/{route}",
        params=query_params(displayName=_display_name(batch_id, display_name)),
        json=json,
        decode=decode,
        retry=retry,
        timeout_factor=timeout_factor,
    )


def request_bulk_image_upload(
    workspace: str, batch_id: str, display_name: str | None = None
) -> RequestSpec[models.SignedURLDetails]:
    validate_batch_id(batch_id)
    operation = f"request bulk upload URL for batch {batch_id!r} (D9)"
    return _bulk_upload(
        workspace, batch_id, "image-files", display_name, operation, _signed_url, Retry.UNAMBIGUOUS
    )


def _references_body(
    key: str,
    references: Sequence[Mapping[str, str]] | None,
    references_url: str | None,
    ingest_id: str,
    notifications_url: str | None,
    notification_categories: Sequence[str] | None,
) -> dict[str, Any]:
    if (references is None) == (references_url is None):
        raise ValueError("give exactly one of references (a list of {name, url}) and references_url")
    body: dict[str, Any] = {}
    if references is not None:
        items = []
        for index, reference in enumerate(references):
            name, url = reference.get("name"), reference.get("url")
            if not isinstance(name, str) or not name or not isinstance(url, str) or not url:
                raise ValueError(f"reference {index} needs non-empty 'name' and 'url' strings")
            items.append({"name": name, "url": url})
        if not items:
            raise ValueError("references must not be empty")
        body[f"{key}References"] = items
    else:
        if not isinstance(references_url, str) or not references_url.startswith(("https://", "http://")):
            raise ValueError("references_url must be an http(s) URL of a JSONL file of {name, url} lines")
        body[f"{key}ReferencesURL"] = references_url
    body["ingestId"] = validate_ingest_id(ingest_id)
    if notifications_url is not None:
        body["notificationsURL"] = notifications_url
    if notification_categories:
        unknown = [c for c in notification_categories if c not in NOTIFICATION_CATEGORIES]
        if unknown:
            raise ValueError(
                f"notification_categories {unknown!r} are not among {list(NOTIFICATION_CATEGORIES)}"
            )
        body["notificationCategories"] = list(dict.fromkeys(notification_categories))
    return body


def ingest_references(
    workspace: str,
    media_type: str,
    batch_id: str,
    *,
    ingest_id: str,
    references: Sequence[Mapping[str, str]] | None = None,
    references_url: str | None = None,
    display_name: str | None = None,
    notifications_url: str | None = None,
    notification_categories: Sequence[str] | None = None,
) -> RequestSpec[models.IngestResult]:
    """D10 (images) or D11 (videos): register signed URLs for the server to fetch."""
    validate_batch_id(batch_id)
    if media_type not in ("images", "videos"):
        raise ValueError(f"media_type must be 'images' or 'videos', got {media_type!r}")
    key, number, route = (
        ("image", "D10", "image-references")
        if media_type == "images"
        else ("video", "D11", "video-references")
    )
    body = _references_body(
        key, references, references_url, ingest_id, notifications_url, notification_categories
    )
    return _bulk_upload(
        workspace,
        batch_id,
        route,
        display_name,
        f"ingest {key} references {ingest_id!r} into batch {batch_id!r} ({number})",
        models.IngestResult.model_validate,
        Retry.SAFE,
        json=body,
        timeout_factor=REFERENCE_INGEST_TIMEOUT_FACTOR,
    )


def roboql_ingest(
    workspace: str,
    batch_id: str,
    query: str,
    *,
    ingest_id: str | None = None,
    display_name: str | None = None,
    notifications_url: str | None = None,
) -> RequestSpec[None]:
    validate_batch_id(batch_id)
    if not isinstance(query, str) or not query.strip():
        raise ValueError("query must be a non-empty RoboQL string")
    body: dict[str, Any] = {"query": query}
    if display_name is not None:
        body["displayName"] = display_name
    if ingest_id is not None:
        body["ingestId"] = validate_ingest_id(ingest_id)
    if notifications_url is not None:
        body["notificationsURL"] = notifications_url
    return RequestSpec(
        operation=f"RoboQL ingest into batch {batch_id!r} (D12)",
        method="POST",
        path=f"{BATCHES.item_path(workspace, batch_id)}/roboql-ingest",
        json=body,
        decode=ignore_body,
        retry=Retry.SAFE if ingest_id is not None else Retry.UNAMBIGUOUS,
        expects_json=False,
    )
