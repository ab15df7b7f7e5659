"""Whether Roboflow can reach an endpoint: its fetchers and notifier run on the internet.

An endpoint is private when its host is ``localhost``, a literal loopback, private-range,
link-local or otherwise non-global address, a name only private networks use (``.local``,
``.internal``, ``.lan``, ``.home.arpa``), a name that does not resolve, or a name that resolves
only to non-global addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from include.roboflow_batch.preflight.report import WEBHOOK_PUBLIC, CheckResult

PRIVATE_SUFFIXES = (".local", ".internal", ".lan", ".home.arpa", ".localdomain")
Resolver = Callable[..., list[tuple[Any, ...]]]


def _address_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if address.is_global:
        return None
    if address.is_loopback:
        return f"a loopback address ({address})"
    if address.is_link_local:
        return f"a link-local address ({address})"
    if address.is_private:
        return f"a private-range address ({address})"
    return f"an address not routed on the internet ({address})"


def private_reason(url: str, resolve: Resolver = socket.getaddrinfo) -> str | None:
    """Why Roboflow could not reach ``url``'s host, or None when the host is public."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host:
        return "it has no host"
    if host == "localhost" or host.endswith(".localhost"):
        return f"its host is {host}"
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        reason = _address_reason(literal)
        return f"its host is {reason}" if reason else None
    if host.endswith(PRIVATE_SUFFIXES):
        return f"its host {host} is a name only a private network resolves"
    try:
        infos = resolve(host, None)
    except (OSError, UnicodeError) as exc:
        return f"its host {host} does not resolve ({exc})"
    addresses = {ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos}
    if addresses and all(not address.is_global for address in addresses):
        shown = ", ".join(sorted(str(a) for a in addresses)[:3])
        return f"its host {host} resolves only to private addresses ({shown})"
    return None


def check_webhook(url: str | None, private_endpoints: str) -> CheckResult | None:
    """``webhook-public``: Roboflow can deliver notifications to ``url`` (None: no webhook set)."""
    if url is None:
        return None
    reason = private_reason(url)
    if reason is None:
        return CheckResult(WEBHOOK_PUBLIC, "ok", "the webhook URL's host is public.")
    return CheckResult(
        WEBHOOK_PUBLIC,
        "failed" if private_endpoints == "fail" else "warning",
        f"Roboflow sends notifications from the internet, but the webhook URL is private: {reason}; "
        "no notification would arrive (the waits fall back to polling).",
        "point webhook_url at the API server's public address, or, on a local stand-in only, set "
        "preflight.private_endpoints: warn.",
    )
