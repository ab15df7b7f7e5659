"""How long signed URLs live: the requested expiry, checked against the 7-day cap of SigV4 and
GCS V4 and against the lifetime of the credentials that sign them.

A URL signed with temporary credentials (STS, SSO, instance roles) stops working when those
credentials expire, whatever its own expiry says. That is reported up front: an error, or, when
the caller allows it, a warning and a shorter effective expiry. Never a URL that dies early
without notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from include.roboflow_batch.durations import timedelta_of_seconds

DEFAULT_EXPIRY = timedelta(hours=24)
MAX_EXPIRY = timedelta(days=7)
# URLs shorter-lived than this could not survive Roboflow's ingest queue.
MIN_EXPIRY = timedelta(minutes=1)


class ExpiryError(ValueError):
    """The requested expiry cannot be honoured."""


@dataclass(frozen=True)
class EffectiveExpiry:
    """The expiry the URLs really get, and why it may differ from the request."""

    signed_at: datetime
    seconds: int
    requested_seconds: int
    limited_by_credentials: bool = False

    @property
    def expires_at(self) -> datetime:
        return self.signed_at + timedelta(seconds=self.seconds)


def parse_expiry(value: object) -> timedelta:
    """A templated or literal expiry (timedelta, or seconds as int, float or digit string) as a timedelta."""
    expiry = timedelta_of_seconds(value)
    if expiry is None:
        raise ExpiryError(f"expiry must be a timedelta or a number of seconds; got {value!r}")
    if expiry < MIN_EXPIRY:
        raise ExpiryError(f"expiry must be at least {MIN_EXPIRY}; got {expiry}")
    if expiry > MAX_EXPIRY:
        raise ExpiryError(
            f"expiry {expiry} is above the 7-day maximum of signed URLs (SigV4 and GCS V4 reject longer "
            "ones); use at most timedelta(days=7)"
        )
    return expiry


def effective_expiry(
    requested: timedelta,
    credentials_expire_at: datetime | None,
    *,
    shorten_to_credentials: bool,
    now: datetime | None = None,
) -> EffectiveExpiry:
    """The expiry to sign with, given when the signing credentials stop being valid (None: never)."""
    signed_at = (now or datetime.now(UTC)).replace(microsecond=0)
    requested_seconds = int(requested.total_seconds())
    if credentials_expire_at is None or signed_at + requested <= credentials_expire_at:
        return EffectiveExpiry(signed_at, requested_seconds, requested_seconds)
    remaining = int((credentials_expire_at - signed_at).total_seconds())
    message = (
        f"the signing credentials expire at {credentials_expire_at.isoformat()}, "
        f"{max(remaining, 0)} s from now, before the requested expiry of {requested_seconds} s; "
        "URLs signed with them would stop working early"
    )
    if not shorten_to_credentials:
        raise ExpiryError(
            message + ". Sign with long-lived credentials, lower expiry, or set shorten_to_credentials=True "
            "to accept the shorter lifetime"
        )
    if remaining < MIN_EXPIRY.total_seconds():
        raise ExpiryError(message + f", and less than {MIN_EXPIRY} is left")
    return EffectiveExpiry(signed_at, remaining, requested_seconds, limited_by_credentials=True)
