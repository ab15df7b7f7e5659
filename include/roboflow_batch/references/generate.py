"""Turn a storage listing into a references JSONL: filter, sign, stream, summarise.

The listing is consumed one object at a time and lines are streamed out, so memory stays flat
however many objects the prefix holds. Objects of the window Roboflow would reject (oversize
images, empty files, types it does not take, keys too long to name) are not sent: each is written
with its reason to a second JSONL next to the references file (``skipped_path``), which the export
joins into the manifest, and counted on the summary (examples only, so XCom stays small).

With the processed-content record (``content``), objects whose content another window processed are
skipped as ``already-processed`` with that window, and the name and content digest of every object
sent is written to a third JSONL (``content_list_path``), from which the window's record is made.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from airflow.sdk import ObjectStoragePath

from include.roboflow_batch.content.identity import content_digest
from include.roboflow_batch.content.record import RecordIndex
from include.roboflow_batch.content.window_content import (
    ALREADY_PROCESSED,
    CONTENT_LIST_SUFFIX,
    ContentFilter,
    Selected,
    content_line,
)
from include.roboflow_batch.media import MediaType, rejection_reason
from include.roboflow_batch.references.expiry import EffectiveExpiry
from include.roboflow_batch.references.jsonl import AtomicJSONLWriter
from include.roboflow_batch.references.naming import NameTooLongError, name_for_key
from include.roboflow_batch.references.objects import Signer, StoredObject
from include.roboflow_batch.references.window import SelectionWindow

SKIP_NAME_TOO_LONG = "name-too-long"
SKIPPED_SUFFIX = ".skipped.jsonl"
MAX_SKIPPED_EXAMPLES = 20

# Keys made only of these characters encode to themselves (with "/" -> "__"): the common case
# takes a single str.replace instead of the byte-wise encoder.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9\-][A-Za-z0-9.\-/]*")


def _name(key: str) -> str:
    if _PLAIN_KEY.fullmatch(key) and len(key) + key.count("/") <= 255:
        return key.replace("/", "__")
    return name_for_key(key)


@dataclass
class ReferencesSummary:
    """What a run produced: small and free of URLs, so it can go to XCom and logs."""

    source: str
    media_type: MediaType
    expiry: EffectiveExpiry
    references_uri: str | None = None
    count: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_examples: list[dict[str, str]] = field(default_factory=list)
    skipped_uri: str | None = None
    # The names and content digests of the objects sent (with the processed-content record only).
    content_uri: str | None = None
    # Receives every skipped entry (the full list goes to a file, never to XCom).
    on_skip: Callable[[dict[str, Any]], None] | None = field(default=None, repr=False, compare=False)

    @property
    def skipped_count(self) -> int:
        return sum(self.skipped.values())

    def skip(self, key: str, reason: str, size: int | None = None, **detail: Any) -> None:
        """Count a skipped object; ``detail`` (e.g. ``processed_in``) goes to the skipped list only."""
        self.skipped[reason] += 1
        if len(self.skipped_examples) < MAX_SKIPPED_EXAMPLES:
            self.skipped_examples.append({"key": key, "reason": reason})
        if self.on_skip is not None:
            self.on_skip({"key": key, "reason": reason, "size": size, **detail})

    def to_dict(self) -> dict[str, Any]:
        return {
            "references_uri": self.references_uri,
            "source": self.source,
            "media_type": self.media_type,
            "count": self.count,
            "skipped_count": self.skipped_count,
            "skipped": dict(sorted(self.skipped.items())),
            "skipped_examples": list(self.skipped_examples),
            "skipped_uri": self.skipped_uri,
            "content_uri": self.content_uri,
            "expires_at": self.expiry.expires_at.isoformat(),
            "expiry_seconds": self.expiry.seconds,
        }


def select_objects(
    objects: Iterable[StoredObject],
    *,
    media_type: MediaType,
    window: SelectionWindow,
    summary: ReferencesSummary,
    content: ContentFilter | None = None,
    also_skipped: Iterable[tuple[str, str]] = (),
) -> Iterable[tuple[str, str]]:
    """(key, name) of the listed objects to reference; records the ones skipped on ``summary``, then
    ``also_skipped`` (``(key, reason)`` of objects that could not be listed at all).

    With ``content`` (the processed-content record) objects another window processed are left out too.
    """
    if content is None:
        return (
            (key, name)
            for key, name, _, _ in _selectable(objects, media_type, window, summary, False, also_skipped)
        )
    return content.unprocessed(_selectable(objects, media_type, window, summary, True, also_skipped))


def _selectable(
    objects: Iterable[StoredObject],
    media_type: MediaType,
    window: SelectionWindow,
    summary: ReferencesSummary,
    with_digests: bool,
    also_skipped: Iterable[tuple[str, str]],
) -> Iterator[Selected]:
    contains = window.contains
    for obj in objects:
        if obj.key.endswith("/") or not contains(obj.last_modified):
            continue
        reason = rejection_reason(obj.key, obj.size, media_type)
        if reason is not None:
            summary.skip(obj.key, reason, obj.size)
            continue
        try:
            name = _name(obj.key)
        except NameTooLongError:
            summary.skip(obj.key, SKIP_NAME_TOO_LONG, obj.size)
            continue
        digest = content_digest(obj.content, obj.size) if with_digests and obj.content else None
        yield obj.key, name, obj.size, digest
    for key, reason in also_skipped:
        summary.skip(key, reason)


def _skip_processed(summary: ReferencesSummary) -> Callable[[str, int, Any], None]:
    """Records an object another window processed as skipped, with that window."""

    def processed(key: str, size: int, window: Any) -> None:
        summary.skip(key, ALREADY_PROCESSED, size, processed_in=window.to_json())

    return processed


@contextmanager
def content_filter(
    record: RecordIndex | None, destination: ObjectStoragePath, summary: ReferencesSummary
) -> Iterator[ContentFilter | None]:
    """The record's filter for one listing, writing its content list beside ``destination``.

    The list is published (``summary.content_uri``) when the listing completes and noted anything.
    """
    if record is None:
        yield None
        return
    with AtomicJSONLWriter(content_list_path(destination)) as writer:
        noted = 0

        def sent(name: str, digest: bytes) -> None:
            nonlocal noted
            noted += 1
            writer.write(content_line(name, digest))

        yield ContentFilter(record, _skip_processed(summary), sent)
        if noted:
            summary.content_uri = writer.commit()
        else:
            writer.abort()


def signed_references(selected: Iterable[tuple[str, str]], sign: Signer) -> Iterator[tuple[str, str]]:
    """``(name, url)`` of each selected ``(key, name)``, in order.

    A signer that can sign many keys at once (on several cores) gets the keys as a stream while
    the listing goes on; the names wait in a queue that holds only the keys being signed.
    """
    sign_many: Callable[[Iterable[str]], Iterator[str]] | None = getattr(sign, "sign_many", None)
    if sign_many is None:
        for key, name in selected:
            yield name, sign(key)
        return
    names: deque[str] = deque()

    def keys() -> Iterator[str]:
        for key, name in selected:
            names.append(name)
            yield key

    for url in sign_many(keys()):
        yield names.popleft(), url


@contextmanager
def closing_signer(sign: Signer) -> Iterator[None]:
    """Release what a signer holds (worker processes) however the writing ends."""
    try:
        yield
    finally:
        close = getattr(sign, "close", None)
        if callable(close):
            close()


def write_references(
    objects: Iterable[StoredObject],
    sign: Signer,
    destination: ObjectStoragePath,
    *,
    source: str,
    media_type: MediaType,
    window: SelectionWindow,
    expiry: EffectiveExpiry,
    record: RecordIndex | None = None,
    also_skipped: Iterable[tuple[str, str]] = (),
) -> ReferencesSummary:
    """Write one ``{"name", "url"}`` line per selected object to ``destination``, atomically, and
    one ``{"key", "reason"}`` line per skipped object (and ``also_skipped``) to
    ``skipped_path(destination)``.

    When nothing is selected the destination is left untouched and ``references_uri`` is None.
    With ``record`` (the processed-content record) objects another window processed are skipped.
    """
    summary = ReferencesSummary(source=source, media_type=media_type, expiry=expiry)
    with (
        AtomicJSONLWriter(destination) as writer,
        AtomicJSONLWriter(skipped_path(destination)) as skips,
        closing_signer(sign),
        content_filter(record, destination, summary) as content,
    ):
        summary.on_skip = skips.write
        selected = select_objects(
            objects,
            media_type=media_type,
            window=window,
            summary=summary,
            content=content,
            also_skipped=also_skipped,
        )
        for name, url in signed_references(selected, sign):
            writer.write({"name": name, "url": url})
            summary.count += 1
        summary.on_skip = None
        # Kept even when nothing was selected: a window of skipped objects only still accounts for them.
        if summary.skipped_count:
            summary.skipped_uri = skips.commit()
        else:
            skips.abort()
        if summary.count:
            summary.references_uri = writer.commit()
        else:
            writer.abort()
    return summary


def skipped_path(references: ObjectStoragePath) -> ObjectStoragePath:
    """Where the objects skipped while writing ``references`` are listed: ``refs.jsonl`` ->
    ``refs.skipped.jsonl``."""
    stem = references.name.removesuffix(".jsonl")
    return references.with_name(stem + SKIPPED_SUFFIX)


def content_list_path(references: ObjectStoragePath) -> ObjectStoragePath:
    """Where the content of the objects sent is listed: ``refs.jsonl`` -> ``refs.content.jsonl``."""
    stem = references.name.removesuffix(".jsonl")
    return references.with_name(stem + CONTENT_LIST_SUFFIX)


def count_references(
    objects: Iterable[StoredObject],
    *,
    source: str,
    media_type: MediaType,
    window: SelectionWindow,
    expiry: EffectiveExpiry,
    record: RecordIndex | None = None,
    also_skipped: Iterable[tuple[str, str]] = (),
) -> ReferencesSummary:
    """What ``write_references`` would write, counted: nothing is signed and nothing is written (the
    processed-content record, when given, is only read)."""
    summary = ReferencesSummary(source=source, media_type=media_type, expiry=expiry)
    content = None if record is None else ContentFilter(record, _skip_processed(summary), lambda *_: None)
    selected = select_objects(
        objects,
        media_type=media_type,
        window=window,
        summary=summary,
        content=content,
        also_skipped=also_skipped,
    )
    for _ in selected:
        summary.count += 1
    return summary
