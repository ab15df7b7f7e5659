"""Identifier rules for batches, jobs and ingests.

Roboflow accepts batch ids of at most 64 and job ids of at most 20 characters from
``[a-z0-9_-]``. Derived ids are a readable slug of the inputs plus a hash of all of them, so the
same inputs always give the same id (a retried task finds its batch/job again) and different
inputs practically never collide, however long or exotic the inputs are.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import unicodedata

BATCH_ID_MAX_LENGTH = 64
JOB_ID_MAX_LENGTH = 20
INGEST_ID_MAX_LENGTH = 64

_ALLOWED = re.compile(r"^[a-z0-9_-]+$")
_DISALLOWED_RUN = re.compile(r"[^a-z0-9]+")

# Hash lengths in base32 characters (5 bits each): 80 bits for batches and ingests, 50 for jobs.
_BATCH_HASH_CHARS = 16
_JOB_HASH_CHARS = 10
_INGEST_HASH_CHARS = 16


def _validate(kind: str, value: object, max_length: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{kind} must be a string, got {type(value).__name__} {value!r}")
    if not value:
        raise ValueError(f"{kind} must not be empty")
    if len(value) > max_length:
        raise ValueError(
            f"{kind} {value!r} is {len(value)} characters long; Roboflow allows at most {max_length}"
        )
    if not _ALLOWED.match(value):
        bad = sorted({ch for ch in value if not _ALLOWED.match(ch)})
        shown = ", ".join(repr(ch) for ch in bad)
        raise ValueError(
            f"{kind} {value!r} contains characters Roboflow does not accept ({shown}); "
            "use only lower-case letters a-z, digits 0-9, '-' and '_'"
        )
    return value


def validate_batch_id(batch_id: str) -> str:
    """Return ``batch_id`` if Roboflow accepts it, else raise ``ValueError`` saying why."""
    return _validate("batch_id", batch_id, BATCH_ID_MAX_LENGTH)


def validate_job_id(job_id: str) -> str:
    """Return ``job_id`` if Roboflow accepts it, else raise ``ValueError`` saying why."""
    return _validate("job_id", job_id, JOB_ID_MAX_LENGTH)


def validate_ingest_id(ingest_id: str) -> str:
    """Ingest ids follow the batch id rules (the contract sets no rule; these are always safe)."""
    return _validate("ingest_id", ingest_id, INGEST_ID_MAX_LENGTH)


def slugify(text: str) -> str:
    """Lower-case ASCII letters and digits joined by single dashes (accents folded, rest dropped)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return _DISALLOWED_RUN.sub("-", folded).strip("-")


def _digest(parts: tuple[object, ...], chars: int) -> str:
    # JSON keeps part boundaries ("a-b", "c" differs from "a", "b-c") and types (1 differs from "1").
    payload = json.dumps(list(parts), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    digest = hashlib.sha256(payload).digest()
    return base64.b32encode(digest).decode("ascii").lower().rstrip("=")[:chars]


def _derive(
    kind: str, parts: tuple[object, ...], max_length: int, hash_chars: int, slug: str | None = None
) -> str:
    if not parts:
        raise ValueError(f"derive a {kind} from at least one input")
    for index, part in enumerate(parts):
        if not isinstance(part, str | int) or isinstance(part, bool):
            raise ValueError(f"{kind} inputs must be strings or integers; input {index} is {part!r}")
    suffix = _digest(parts, hash_chars)
    room = max_length - hash_chars - 1
    if slug is None:
        slug = slugify("-".join(str(part) for part in parts))
    slug = slug[:room].strip("-")
    return f"{slug}-{suffix}" if slug else suffix


def derive_batch_id(*parts: str) -> str:
    """A valid batch id (<= 64 chars) determined by ``parts``, e.g. pipeline id and data interval."""
    return _derive("batch_id", parts, BATCH_ID_MAX_LENGTH, _BATCH_HASH_CHARS)


def derive_job_id(*parts: str) -> str:
    """A valid job id (<= 20 chars) determined by ``parts``; mostly hash, as 20 chars leave little room."""
    return _derive("job_id", parts, JOB_ID_MAX_LENGTH, _JOB_HASH_CHARS)


#: Times one batch's data may be staged under a new id because the service keeps expired ids.
MAX_STAGINGS = 9


def staged_batch_id(batch_id: str, staging: int) -> str:
    """The id of the ``staging``-th time a batch's data is staged (1: ``batch_id`` itself).

    Needed only when the service refuses to take data into the id of an expired batch: the data is
    staged again under the next id, the same for every retry, so a retry finds that batch again.
    """
    if staging < 1:
        raise ValueError(f"stagings are numbered from 1, got {staging}")
    return validate_batch_id(batch_id) if staging == 1 else derive_batch_id(batch_id, "staging", str(staging))


def batch_stagings(batch_id: str) -> tuple[str, ...]:
    """Every id ``batch_id``'s data may be staged under, in order: the batch itself, then each later
    staging's (``staged_batch_id``)."""
    return tuple(staged_batch_id(batch_id, staging) for staging in range(1, MAX_STAGINGS + 1))


def derive_ingest_id(batch_id: str, *parts: str | int) -> str:
    """A valid ingest id (<= 64 chars) for one ingest request into ``batch_id`` (e.g. per chunk)."""
    validate_batch_id(batch_id)
    # Keep the per-chunk tail readable: shorten the batch part of the slug, not the chunk part.
    room = INGEST_ID_MAX_LENGTH - _INGEST_HASH_CHARS - 1
    tail = slugify("-".join(str(part) for part in parts))[: room // 2].strip("-")
    head = slugify(batch_id)[: room - len(tail) - 1 if tail else room].strip("-")
    slug = "-".join(piece for piece in (head, tail) if piece)
    return _derive("ingest_id", (batch_id, *parts), INGEST_ID_MAX_LENGTH, _INGEST_HASH_CHARS, slug)
