"""The record of content a pipeline already processed: append-only segments on any object store.

Layout under the record's folder (``<state_location>/<pipeline>/processed-content/``)::

    segments/w-<window start>--<window end>-<hash>.npz   one per reconciled window (never rewritten)
    segments/c-<hash>.npz                                a compaction of the segments it names

A segment is a NumPy ``.npz`` archive: ``digests`` (sorted, unique, 16 bytes each, see
``content.identity``), ``meta`` (JSON: the windows it holds and the segments it ``covers``) and, in a
compaction, ``window_index`` (the window of each digest). A window's segment is written once its
results reconciled; its name carries a hash of its contents, so writing it again (a retried task)
gives the same object, and two runs of a window with different content give two objects. Nothing is
ever read, changed and written back: concurrent runs each add their own objects.

Reading loads every segment that no compaction covers, newest compactions first; a window's own
segments never count against it (a re-run of a window sends its objects again, into the same batch
and job). Compaction keeps the number of objects to read small: once more than
:data:`COMPACT_AFTER` window segments are uncovered, the writer adds one compaction holding them all
(and the compactions they sit beside). Covered segments stay (a storage lifecycle rule may remove
them); two compactions made at once both count, which is harmless.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from include.roboflow_batch.content.identity import DIGEST_DTYPE, Digests

SEGMENTS = "segments"
SEGMENT_SUFFIX = ".npz"
WINDOW_PREFIX = "w-"
COMPACTION_PREFIX = "c-"
FORMAT_VERSION = 1
#: Uncovered window segments a reader may meet before the next writer compacts them.
COMPACT_AFTER = 32
_STAMP = "%Y%m%dt%H%M%S"


class RecordError(ValueError):
    """A segment of the record cannot be read; the message names it and what to do."""


@dataclass(frozen=True)
class WindowRef:
    """The window a run processed, as its manifest states it (ISO 8601 times; start None for "all")."""

    start: str | None
    end: str
    select: str = "interval"

    @property
    def key(self) -> str:
        """``<start>--<end>`` in UTC stamps, safe in an object name."""

        def stamp(value: str | None) -> str:
            if value is None:
                return "all"
            moment = datetime.fromisoformat(value)
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).strftime(_STAMP)

        return f"{stamp(self.start)}--{stamp(self.end)}"

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "select": self.select}

    @classmethod
    def of_run(
        cls, select: str, start: datetime | str | None, end: datetime | str | None
    ) -> WindowRef | None:
        """The window a run's rendered ``select`` / ``interval_start`` / ``interval_end`` name (None
        without an end: an operator used on its own, outside a pipeline's window)."""

        def text(value: datetime | str | None) -> str | None:
            if value is None or value in ("", "None"):
                return None
            return value.isoformat() if isinstance(value, datetime) else str(value)

        end_text = text(end)
        if end_text is None:
            return None
        return cls(None if select == "all" else text(start), end_text, select)

    @classmethod
    def from_json(cls, value: Any) -> WindowRef:
        if not isinstance(value, dict) or not isinstance(value.get("end"), str):
            raise ValueError(f"not a window: {value!r}")
        start = value.get("start")
        return cls(
            start if isinstance(start, str) else None, value["end"], str(value.get("select", "interval"))
        )


@dataclass(frozen=True)
class _Segment:
    name: str
    digests: Digests
    windows: list[WindowRef]
    window_index: npt.NDArray[np.uint32] | None
    covers: frozenset[str] = frozenset()

    def window_ids(self) -> npt.NDArray[np.uint32]:
        if self.window_index is not None:
            return self.window_index
        return np.zeros(len(self.digests), dtype=np.uint32)


@dataclass
class RecordIndex:
    """The loaded record: which window, if any, already processed each content digest."""

    segments: list[_Segment] = field(default_factory=list)
    current: WindowRef | None = None

    @property
    def size(self) -> int:
        return sum(len(segment.digests) for segment in self.segments)

    def lookup(self, digests: Digests) -> list[WindowRef | None]:
        """The window that processed each of ``digests`` (None: not processed by another window)."""
        found: list[WindowRef | None] = [None] * len(digests)
        missing = np.ones(len(digests), dtype=bool)
        current = self.current.key if self.current is not None else None
        for segment in self.segments:
            if not len(segment.digests) or not missing.any():
                continue
            positions = np.minimum(np.searchsorted(segment.digests, digests), len(segment.digests) - 1)
            ids = segment.window_ids()[positions]
            other = np.array([window.key != current for window in segment.windows], dtype=bool)
            hits = missing & (segment.digests[positions] == digests) & other[ids]
            for index in np.flatnonzero(hits):
                found[index] = segment.windows[int(ids[index])]
            missing &= ~hits
        return found


def _segment_bytes(
    digests: Digests, meta: dict[str, Any], window_index: npt.NDArray[np.uint32] | None
) -> bytes:
    arrays: dict[str, Any] = {"digests": digests, "meta": np.array(json.dumps(meta, sort_keys=True))}
    if window_index is not None:
        arrays["window_index"] = window_index
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _parse_segment(name: str, data: bytes) -> _Segment:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            digests = archive["digests"]
            meta = json.loads(str(archive["meta"][()]))
            window_index = archive["window_index"] if "window_index" in archive.files else None
        windows = [WindowRef.from_json(item) for item in meta["windows"]]
        covers = frozenset(str(item) for item in meta.get("covers") or [])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RecordError(f"{exc.__class__.__name__}: {exc}") from None
    if meta.get("version") != FORMAT_VERSION:
        raise RecordError(f"format version {meta.get('version')!r}, expected {FORMAT_VERSION}")
    if digests.dtype != DIGEST_DTYPE or digests.ndim != 1:
        raise RecordError(
            f"digests are {digests.dtype} of {digests.ndim} dimension(s), expected {DIGEST_DTYPE}"
        )
    if not windows:
        raise RecordError("it names no window")
    if window_index is not None and (
        window_index.shape != digests.shape or (len(window_index) and int(window_index.max()) >= len(windows))
    ):
        raise RecordError("its window index does not match its digests and windows")
    if len(digests) > 1 and not bool(np.all(digests[1:] > digests[:-1])):
        raise RecordError("its digests are not sorted and unique")
    return _Segment(name, digests, windows, window_index, covers)


class ContentRecord:
    """A pipeline's record at ``root`` (an ``ObjectStoragePath`` folder)."""

    def __init__(self, root: Any) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"ContentRecord({self.root})"

    @property
    def _segments_dir(self) -> Any:
        return self.root / SEGMENTS

    def _names(self) -> list[str]:
        try:
            children = list(self._segments_dir.iterdir())
        except (FileNotFoundError, NotADirectoryError):  # nothing recorded yet
            return []
        names = (str(child.name) for child in children)
        return sorted(
            n
            for n in names
            if n.endswith(SEGMENT_SUFFIX) and n.startswith((WINDOW_PREFIX, COMPACTION_PREFIX))
        )

    def _read(self, name: str) -> _Segment:
        path = self._segments_dir / name
        try:
            with path.open("rb") as handle:
                data = handle.read()
            return _parse_segment(name, data)
        except RecordError as exc:
            raise RecordError(
                f"segment {path.as_uri()} of the processed-content record is unreadable ({exc}). Move it "
                "away to go on (its windows' content may then be processed again), or restore it."
            ) from None

    def _visible(self, names: Sequence[str]) -> list[_Segment]:
        """Compactions no other compaction covers, then the window segments none of them covers."""
        compactions = [self._read(n) for n in names if n.startswith(COMPACTION_PREFIX)]
        covered = frozenset().union(*(c.covers for c in compactions))
        visible = [c for c in compactions if c.name not in covered]
        visible += [self._read(n) for n in names if n.startswith(WINDOW_PREFIX) and n not in covered]
        return visible

    def load(self, current: WindowRef | None = None) -> RecordIndex:
        """Everything processed so far; ``current``'s own segments never count against it."""
        return RecordIndex(self._visible(self._names()), current)

    def add_window(self, window: WindowRef, digests: Digests, run_id: str | None = None) -> str:
        """Record the content ``window`` processed (its segment, then a compaction if one is due);
        returns the segment's URI."""
        unique = np.unique(digests.astype(DIGEST_DTYPE, copy=False))
        content_hash = hashlib.sha256(unique.tobytes()).hexdigest()[:16]
        name = f"{WINDOW_PREFIX}{window.key}-{content_hash}{SEGMENT_SUFFIX}"
        meta = {
            "version": FORMAT_VERSION,
            "windows": [window.to_json()],
            "run_id": run_id,
            "count": len(unique),
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        uri = self._publish(name, _segment_bytes(unique, meta, None))
        self.compact_if_due()
        return uri

    def compact_if_due(self) -> str | None:
        names = self._names()
        segments = self._visible(names)
        uncovered_windows = [s for s in segments if s.name.startswith(WINDOW_PREFIX)]
        if len(uncovered_windows) <= COMPACT_AFTER:
            return None
        return self._compact(segments)

    def _compact(self, segments: list[_Segment]) -> str:
        windows: dict[WindowRef, int] = {}
        parts: list[Digests] = []
        ids: list[npt.NDArray[np.uint32]] = []
        for segment in segments:
            local = np.array([windows.setdefault(w, len(windows)) for w in segment.windows], dtype=np.uint32)
            parts.append(segment.digests)
            ids.append(local[segment.window_ids()])
        digests = np.concatenate(parts) if parts else np.empty(0, dtype=DIGEST_DTYPE)
        window_index = np.concatenate(ids) if ids else np.empty(0, dtype=np.uint32)
        del parts, ids
        # One entry per digest: the first window that processed it (segments come oldest first).
        order = np.argsort(digests, kind="stable")
        digests, window_index = digests[order], window_index[order]
        del order
        keep = np.ones(len(digests), dtype=bool)
        keep[1:] = digests[1:] != digests[:-1]
        digests, window_index = digests[keep], window_index[keep]
        covers = sorted(segment.name for segment in segments)
        meta = {
            "version": FORMAT_VERSION,
            "windows": [w.to_json() for w in windows],
            "covers": covers,
            "count": len(digests),
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        covers_hash = hashlib.sha256(json.dumps(covers).encode()).hexdigest()[:16]
        name = f"{COMPACTION_PREFIX}{covers_hash}{SEGMENT_SUFFIX}"
        return self._publish(name, _segment_bytes(digests, meta, window_index))

    def _publish(self, name: str, data: bytes) -> str:
        """Write ``data`` under a hidden temporary name, then move it into place: whole or absent."""
        folder = self._segments_dir
        if folder.protocol in ("file", "local", ""):
            folder.mkdir(parents=True, exist_ok=True)
        final = folder / name
        temporary = folder / f".{name}.{uuid.uuid4().hex}.partial"
        temporary.write_bytes(data)
        temporary.rename(final)
        return str(final.as_uri())
