"""The source lists with its connection, and a sample of its signed URLs is fetchable the way
Roboflow fetches them: from the internet, with a plain GET and no credentials.

The sample comes from the first listing page: objects of the run's window when it has some, else
any object of the source's media (the signature and the endpoint are what is checked). Signed
URLs are bearer secrets: results name the object key, never the URL.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Literal, Protocol

import httpx

from include.roboflow_batch.media import MediaType, rejection_reason
from include.roboflow_batch.preflight.addresses import private_reason
from include.roboflow_batch.preflight.report import SIGNED_URLS_FETCHABLE, SOURCE_LISTABLE, CheckResult
from include.roboflow_batch.references.expiry import EffectiveExpiry, effective_expiry
from include.roboflow_batch.references.objects import MAX_PAGE_SIZE, Signer, StoredObject
from include.roboflow_batch.references.window import SelectionWindow

#: Long enough for the probe, short enough to be worthless if it leaked.
PROBE_EXPIRY = timedelta(minutes=15)
FETCH_TIMEOUT = 15.0


class SourceProbe(Protocol):
    """What the checks need from a source: its listing and its signer (a references operator has both)."""

    @property
    def source_uri(self) -> str: ...

    def credentials_expire_at(self) -> datetime | None: ...

    def iter_objects(self) -> Iterator[StoredObject]: ...

    def make_signer(self, expiry: EffectiveExpiry) -> Signer: ...


def sample_keys(
    objects: list[StoredObject], media_type: MediaType, window: SelectionWindow, count: int
) -> tuple[list[str], bool]:
    """Up to ``count`` keys Roboflow would take, from the window when it has some (second: True)."""
    usable = [
        o for o in objects if not o.key.endswith("/") and rejection_reason(o.key, o.size, media_type) is None
    ]
    in_window = [o.key for o in usable if window.contains(o.last_modified)]
    if in_window:
        return in_window[:count], True
    return [o.key for o in usable[:count]], False


def fetch_like_roboflow(url: str) -> tuple[bool, str]:
    """GET the first byte of a signed URL without credentials: ``(fetchable, what happened)``."""
    try:
        with httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=True, trust_env=False) as client:
            response = client.get(url, headers={"Range": "bytes=0-0"})
    except httpx.HTTPError as exc:
        return False, f"no answer ({type(exc).__name__})"
    if response.status_code in (200, 206):
        return True, f"HTTP {response.status_code}"
    return False, f"HTTP {response.status_code}"


def _sign(probe: SourceProbe, keys: list[str]) -> dict[str, str]:
    """Signed URLs of ``keys``, valid for ``PROBE_EXPIRY`` or as long as the credentials allow."""
    expiry = effective_expiry(PROBE_EXPIRY, probe.credentials_expire_at(), shorten_to_credentials=True)
    sign = probe.make_signer(expiry)
    try:
        return {key: sign(key) for key in keys}
    finally:
        close = getattr(sign, "close", None)
        if callable(close):
            close()


def _fetch_result(
    urls: dict[str, str], source: str, connection: str, scope: str, private_endpoints: str
) -> CheckResult:
    host_reason = private_reason(next(iter(urls.values())))
    fetched = {key: fetch_like_roboflow(url) for key, url in urls.items()}
    refused = {key: detail for key, (ok, detail) in fetched.items() if not ok}
    if host_reason is not None:
        reachable = "fetchable from here" if not refused else "not even fetchable from here"
        return CheckResult(
            SIGNED_URLS_FETCHABLE,
            "failed" if private_endpoints == "fail" else "warning",
            f"Roboflow fetches signed URLs from the internet, but the endpoint of {source} is private: "
            f"{host_reason}. {len(urls)} URL(s) {scope} are {reachable}; Roboflow would fail every file "
            "as file-not-reachable.",
            "serve the bucket from a public endpoint (the store's own, or a public domain for an "
            "S3-compatible store), or, on a local stand-in only, set preflight.private_endpoints: warn.",
        )
    if refused:
        key, detail = next(iter(refused.items()))
        return CheckResult(
            SIGNED_URLS_FETCHABLE,
            "failed",
            f"{len(refused)} of {len(urls)} signed URL(s) {scope} were refused ({key}: {detail}); "
            "Roboflow would fail those files as file-not-reachable.",
            f"check that {connection} may read the objects, that its key is the one the store expects, "
            "and that this machine's clock is right (signatures are time-bound).",
        )
    return CheckResult(
        SIGNED_URLS_FETCHABLE, "ok", f"{len(urls)} signed URL(s) {scope} were fetched without credentials."
    )


def check_source(
    probe: SourceProbe,
    *,
    conn_id: str | None,
    media_type: MediaType,
    window: SelectionWindow,
    sample_urls: int,
    private_endpoints: Literal["fail", "warn"],
) -> list[CheckResult]:
    """``source-listable`` and ``signed-urls-fetchable`` (one listing page, a few signatures and GETs)."""
    connection = f"connection {conn_id!r}" if conn_id else "its connection"
    source = probe.source_uri
    try:
        first_page = list(itertools.islice(probe.iter_objects(), MAX_PAGE_SIZE))
    except Exception as exc:  # the store's own error is the answer
        return [
            CheckResult(
                SOURCE_LISTABLE,
                "failed",
                f"{source} cannot be listed with {connection}: {type(exc).__name__}: {exc}.",
                f"check the bucket name, the prefix and the credentials of {connection} (it needs list "
                "and read permission on the bucket).",
            )
        ]
    listable = CheckResult(SOURCE_LISTABLE, "ok", f"{source} lists with {connection}.")
    if sample_urls == 0:
        return [listable]
    keys, from_window = sample_keys(first_page, media_type, window, sample_urls)
    if not keys:
        message = f"no {media_type} among the first objects of {source} to sign."
        return [listable, CheckResult(SIGNED_URLS_FETCHABLE, "skipped", message)]
    try:
        urls = _sign(probe, keys)
    except Exception as exc:  # the signer's own error is the answer
        return [
            listable,
            CheckResult(
                SIGNED_URLS_FETCHABLE,
                "failed",
                f"URLs for {source} cannot be signed with {connection}: {type(exc).__name__}: {exc}.",
                f"give {connection} credentials that can sign (a key, not only a token), and check "
                "that they have not expired.",
            ),
        ]
    scope = (
        "of this run's window" if from_window else "of the source (none of the window among the first listed)"
    )
    return [listable, _fetch_result(urls, source, connection, scope, private_endpoints)]
