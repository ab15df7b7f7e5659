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

import functools
import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from include.roboflow_batch.content.identity import DIGEST_DTYPE, Digests

T = TypeVar("T")
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


U64 = npt.NDArray[np.uint64]


def halves(digests: Digests) -> tuple[U64, U64]:
    """The two big-endian 64-bit halves of each digest: their order is the digests' byte order,
    and integers compare many times faster than 16-byte strings."""
    pairs = np.ascontiguousarray(digests, dtype=DIGEST_DTYPE).view(">u8").reshape(-1, 2)
    return pairs[:, 0].astype(np.uint64), pairs[:, 1].astype(np.uint64)


def joined(high: U64, low: U64) -> Digests:
    """The digests whose halves are ``high`` and ``low`` (the inverse of :func:`halves`)."""
    pairs = np.empty((len(high), 2), dtype=">u8")
    pairs[:, 0], pairs[:, 1] = high, low
    return pairs.reshape(-1).view(DIGEST_DTYPE)


def sorted_unique(high: U64, low: U64) -> tuple[U64, U64]:
    """The digests ``high``/``low`` in order, each once."""
    order = np.lexsort((low, high))
    high, low = high[order], low[order]
    keep = np.ones(len(high), dtype=bool)
    keep[1:] = (high[1:] != high[:-1]) | (low[1:] != low[:-1])
    return high[keep], low[keep]


@dataclass(frozen=True)
class _Segment:
    name: str
    high: U64
    low: U64
    windows: list[WindowRef]
    window_index: npt.NDArray[np.uint32] | None
    covers: frozenset[str] = frozenset()

    def __len__(self) -> int:
        return len(self.high)

    def window_ids(self) -> npt.NDArray[np.uint32]:
        if self.window_index is not None:
            return self.window_index
        return np.zeros(len(self), dtype=np.uint32)


@dataclass
class _Table:
    """Sorted digests (by halves), the window that processed each (``window_ids`` into ``windows``),
    and which of those windows count against the listing at hand (``other``)."""

    high: U64
    low: U64
    window_ids: npt.NDArray[np.uint32]
    windows: list[WindowRef]
    other: npt.NDArray[np.bool_] = field(default_factory=lambda: np.ones(0, dtype=bool))

    def __len__(self) -> int:
        return len(self.high)

    def find(self, high: U64, low: U64) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.intp]]:
        """Whether each of the sorted digests ``high``/``low`` is here, and where."""
        positions = np.minimum(np.searchsorted(self.high, high), len(self) - 1)
        same_high = self.high[positions] == high
        found = same_high & (self.low[positions] == low)
        # Digests sharing their first 64 bits (rare at any size): look along the run of equals.
        for index in np.flatnonzero(same_high & ~found):
            at = int(positions[index])
            while at < len(self) and self.high[at] == high[index]:
                if self.low[at] == low[index]:
                    found[index], positions[index] = True, at
                    break
                at += 1
        return found, positions


class RecordIndex:
    """The loaded record: which window, if any, already processed each content digest.

    A compaction is searched as it was read; the window segments beside it are merged into one
    sorted table, so a lookup is a binary search in a handful of tables however many windows ran.
    The current window's own entries never count (``current``).
    """

    def __init__(self, tables: Sequence[_Table] = (), current: WindowRef | None = None) -> None:
        self.current = current
        self.tables = list(tables)
        current_key = current.key if current is not None else None
        for table in self.tables:
            table.other = np.array([window.key != current_key for window in table.windows], dtype=bool)

    @property
    def size(self) -> int:
        return sum(len(table) for table in self.tables)

    def lookup(self, digests: Digests) -> list[WindowRef | None]:
        """The window that processed each of ``digests`` (None: not processed by another window)."""
        found: list[WindowRef | None] = [None] * len(digests)
        if not len(digests):
            return found
        high, low = halves(digests)
        # Searched in order: sorted queries walk a table once, several times faster.
        order = np.lexsort((low, high))
        high, low = high[order], low[order]
        missing = np.ones(len(digests), dtype=bool)
        for table in self.tables:
            if not len(table) or not missing.any():
                continue
            present, positions = table.find(high, low)
            ids = table.window_ids[positions]
            hits = missing & present & table.other[ids]
            for index in np.flatnonzero(hits):
                found[int(order[index])] = table.windows[int(ids[index])]
            missing &= ~hits
        return found


def _meta_array(meta: dict[str, Any]) -> npt.NDArray[Any]:
    return np.array(json.dumps(meta, sort_keys=True))


def _parse_meta(archive: Any) -> tuple[dict[str, Any], list[WindowRef], frozenset[str]]:
    meta = json.loads(str(archive["meta"][()]))
    if meta.get("version") != FORMAT_VERSION:
        raise RecordError(f"format version {meta.get('version')!r}, expected {FORMAT_VERSION}")
    windows = [WindowRef.from_json(item) for item in meta["windows"]]
    if not windows:
        raise RecordError("it names no window")
    return meta, windows, frozenset(str(item) for item in meta.get("covers") or [])


def _parse_segment(name: str, archive: Any) -> _Segment:
    _, windows, covers = _parse_meta(archive)
    digests = archive["digests"]
    window_index = archive["window_index"] if "window_index" in archive.files else None
    if digests.dtype != DIGEST_DTYPE or digests.ndim != 1:
        raise RecordError(
            f"digests are {digests.dtype} of {digests.ndim} dimension(s), expected {DIGEST_DTYPE}"
        )
    high, low = halves(digests)
    del digests
    if window_index is not None and (
        window_index.shape != high.shape or (len(window_index) and int(window_index.max()) >= len(windows))
    ):
        raise RecordError("its window index does not match its digests and windows")
    rising = (high[1:] > high[:-1]) | ((high[1:] == high[:-1]) & (low[1:] > low[:-1]))
    if not bool(np.all(rising)):
        raise RecordError("its digests are not sorted and unique")
    return _Segment(name, high, low, windows, window_index, covers)


@dataclass(frozen=True)
class _Listing:
    """The record's segments as they stand: which are visible, and what each compaction covers."""

    compactions: list[str]
    windows: list[str]


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

    def _open(self, name: str, read: Callable[[Any], T]) -> T:
        """``read(archive)`` of one segment (members are read only when asked for); a damaged
        segment is named with what to do."""
        path = self._segments_dir / name
        try:
            with path.open("rb") as handle, np.load(handle, allow_pickle=False) as archive:
                return read(archive)
        except (RecordError, OSError, ValueError, KeyError, TypeError, EOFError) as exc:
            reason = str(exc) if isinstance(exc, RecordError) else f"{type(exc).__name__}: {exc}"
            raise RecordError(
                f"segment {path.as_uri()} of the processed-content record is unreadable ({reason}). Move "
                "it away to go on (its windows' content may then be processed again), or restore it."
            ) from None

    def _read(self, name: str) -> _Segment:
        return self._open(name, functools.partial(_parse_segment, name))

    def _listing(self) -> _Listing:
        """Compactions no other compaction covers, and the window segments none of them covers
        (only the compactions' metadata is read)."""
        names = self._names()
        compactions = [n for n in names if n.startswith(COMPACTION_PREFIX)]
        covers = {n: self._open(n, lambda archive: _parse_meta(archive)[2]) for n in compactions}
        covered = frozenset().union(*covers.values())
        return _Listing(
            [n for n in compactions if n not in covered],
            [n for n in names if n.startswith(WINDOW_PREFIX) and n not in covered],
        )

    def load(self, current: WindowRef | None = None) -> RecordIndex:
        """Everything processed so far; ``current``'s own segments never count against it."""
        listing = self._listing()
        tables = []
        for name in listing.compactions:
            segment = self._read(name)
            tables.append(_Table(segment.high, segment.low, segment.window_ids(), segment.windows))
        if listing.windows:
            tables.append(_Table(*self._gather(listing.windows)))
        return RecordIndex(tables, current)

    def _gather(self, names: list[str]) -> tuple[U64, U64, npt.NDArray[np.uint32], list[WindowRef]]:
        """The segments ``names`` (oldest first) as one sorted table, each digest once (with the first
        window that processed it). Read one at a time into arrays sized for all of them: about 40
        bytes a digest while it is built, 20 once it is."""
        counts = [self._open(n, lambda archive: len(archive["digests"])) for n in names]
        total = sum(counts)
        high, low = np.empty(total, dtype=np.uint64), np.empty(total, dtype=np.uint64)
        ids = np.empty(total, dtype=np.uint32)
        windows: dict[WindowRef, int] = {}
        at = 0
        for name, count in zip(names, counts, strict=True):
            segment = self._read(name)
            if len(segment) != count:
                raise RecordError(f"segment {name} changed while it was read; try again")
            to_global = np.array(
                [windows.setdefault(w, len(windows)) for w in segment.windows], dtype=np.uint32
            )
            high[at : at + count], low[at : at + count] = segment.high, segment.low
            ids[at : at + count] = to_global[segment.window_ids()]
            at += count
            del segment
        order = np.lexsort((low, high))  # stable: of equal digests the oldest stays first
        high = high[order]
        low = low[order]
        ids = ids[order]
        del order
        keep = np.ones(total, dtype=bool)
        keep[1:] = (high[1:] != high[:-1]) | (low[1:] != low[:-1])
        if not keep.all():
            high, low, ids = high[keep], low[keep], ids[keep]
        return high, low, ids, list(windows)

    def add_window(self, window: WindowRef, digests: Digests, run_id: str | None = None) -> str:
        """Record the content ``window`` processed (its segment, then a compaction if one is due);
        returns the segment's URI."""
        high, low = sorted_unique(*halves(digests))
        unique = joined(high, low)
        del high, low
        content_hash = hashlib.sha256(unique.tobytes()).hexdigest()[:16]
        name = f"{WINDOW_PREFIX}{window.key}-{content_hash}{SEGMENT_SUFFIX}"
        meta = {
            "version": FORMAT_VERSION,
            "windows": [window.to_json()],
            "run_id": run_id,
            "count": len(unique),
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        uri = self._publish(name, {"digests": unique, "meta": _meta_array(meta)})
        del unique
        self.compact_if_due()
        return uri

    def compact_if_due(self) -> str | None:
        listing = self._listing()
        if len(listing.windows) <= COMPACT_AFTER:
            return None
        return self._compact([*listing.compactions, *listing.windows])

    def _compact(self, names: list[str]) -> str:
        """One compaction holding the segments ``names`` (oldest first)."""
        high, low, ids, windows = self._gather(names)
        digests = joined(high, low)
        del high, low
        meta = {
            "version": FORMAT_VERSION,
            "windows": [w.to_json() for w in windows],
            "covers": sorted(names),
            "count": len(digests),
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        covers_hash = hashlib.sha256(json.dumps(sorted(names)).encode()).hexdigest()[:16]
        name = f"{COMPACTION_PREFIX}{covers_hash}{SEGMENT_SUFFIX}"
        return self._publish(name, {"digests": digests, "window_index": ids, "meta": _meta_array(meta)})

    def _publish(self, name: str, arrays: dict[str, Any]) -> str:
        """Write ``arrays`` under a hidden temporary name, then move it into place: whole or absent."""
        folder = self._segments_dir
        if folder.protocol in ("file", "local", ""):
            folder.mkdir(parents=True, exist_ok=True)
        final = folder / name
        temporary = folder / f".{name}.{uuid.uuid4().hex}.partial"
        with temporary.open("wb") as handle:
            np.savez(handle, **arrays)
        temporary.rename(final)
        return str(final.as_uri())
