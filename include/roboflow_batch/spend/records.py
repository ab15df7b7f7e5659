"""One record per run of a job: what it reserved before it started, then what it measured after.

A record is one small JSON object that is written once and never changed. Its object name carries
what a budget check needs (when, which pipeline and job, which run of the job, reserved or measured,
credits), so totals come from a listing without reading the records. A measured record keeps the
time of the reservation it replaces: a job counts against the day and month it started in.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

RecordKind = Literal["reserved", "measured"]
RECORD_VERSION = 1
_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"
_ID = r"[a-z0-9][a-z0-9_-]{0,63}"
_NAME = re.compile(
    rf"^(?P<at>\d{{8}}T\d{{12}}Z)~(?P<pipeline>{_ID})~(?P<job>{_ID})~r(?P<run>\d{{1,3}})"
    r"~(?P<kind>reserved|measured)~(?P<credits>\d{1,12}\.\d{6})\.json$"
)


class RecordError(ValueError):
    """A record or a record name that cannot be read; the message names it."""


@dataclass(frozen=True)
class RecordKey:
    """Which run of which job: ``run`` 0 is the job's first run, 1 its first restart or re-run, ..."""

    pipeline: str
    job_id: str
    run: int


@dataclass(frozen=True)
class LedgerEntry:
    """What a record's name says."""

    name: str
    at: datetime
    key: RecordKey
    kind: RecordKind
    credits: float

    @property
    def month(self) -> str:
        return self.at.strftime("%Y-%m")


def record_name(at: datetime, key: RecordKey, kind: RecordKind, credits: float) -> str:
    stamp = at.astimezone(UTC).strftime(_TIME_FORMAT)
    return f"{stamp}~{key.pipeline}~{key.job_id}~r{key.run}~{kind}~{max(credits, 0.0):.6f}.json"


def parse_name(name: str) -> LedgerEntry:
    match = _NAME.match(name)
    if match is None:
        raise RecordError(f"not a spend record name: {name!r}")
    at = datetime.strptime(match["at"], _TIME_FORMAT).replace(tzinfo=UTC)
    key = RecordKey(match["pipeline"], match["job"], int(match["run"]))
    kind: RecordKind = "reserved" if match["kind"] == "reserved" else "measured"
    return LedgerEntry(name, at, key, kind, float(match["credits"]))


@dataclass(frozen=True)
class SpendRecord:
    """The content of a record (the name repeats ``at``, the key, ``kind`` and ``credits``)."""

    at: datetime
    key: RecordKey
    kind: RecordKind
    credits: float
    machine_type: str
    media_type: str
    objects: int
    # Reserved: the ceiling sent as processingTimeoutSeconds (None: the job had none). Measured:
    # the machine time read from the job, and whether its ceiling stopped it.
    ceiling_seconds: int | None = None
    estimate_seconds: float | None = None
    machine_seconds: float | None = None
    stopped_by_ceiling: bool = False
    group: str | None = None
    run_id: str | None = None
    approved_credits: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return record_name(self.at, self.key, self.kind, self.credits)

    def to_json(self) -> str:
        data = asdict(self)
        data["at"] = self.at.astimezone(UTC).isoformat()
        data["version"] = RECORD_VERSION
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str) -> SpendRecord:
        try:
            data = json.loads(text)
            key = RecordKey(**data.pop("key"))
            data.pop("version", None)
            at = datetime.fromisoformat(data.pop("at"))
            return cls(at=at, key=key, **data)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise RecordError(f"{where}: not a spend record ({exc})") from None
