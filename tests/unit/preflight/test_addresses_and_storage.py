"""Private endpoints are named for what they are; writable locations are left as they were."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from include.roboflow_batch.preflight.addresses import check_webhook, private_reason
from include.roboflow_batch.preflight.storage import check_writable


def resolver(*addresses: str) -> Any:
    def resolve(host: str, port: object) -> list[tuple[Any, ...]]:
        if not addresses:
            raise socket.gaierror(-2, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in addresses]

    return resolve


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://localhost:9000/b/k?sig=1", "its host is localhost"),
        ("http://api.localhost/x", "its host is api.localhost"),
        ("http://127.0.0.1:9000/x", "a loopback address (127.0.0.1)"),
        ("http://[::1]:9000/x", "a loopback address (::1)"),
        ("https://10.2.3.4/x", "a private-range address (10.2.3.4)"),
        ("https://192.168.1.20/x", "a private-range address (192.168.1.20)"),
        ("https://169.254.10.1/x", "a link-local address (169.254.10.1)"),
        ("https://minio.internal/x", "a name only a private network resolves"),
        ("https://nas.local/x", "a name only a private network resolves"),
    ],
)
def test_private_endpoints_say_why(url: str, reason: str) -> None:
    found = private_reason(url, resolve=resolver("93.184.216.34"))
    assert found is not None and reason in found


def test_names_are_judged_by_what_they_resolve_to() -> None:
    assert private_reason("https://store.example.org/x", resolve=resolver("93.184.216.34")) is None
    assert "resolves only to private addresses (10.0.0.5)" in str(
        private_reason("https://minio.corp.example/x", resolve=resolver("10.0.0.5"))
    )
    assert "does not resolve" in str(private_reason("https://nowhere.example/x", resolve=resolver()))
    assert private_reason("https://8.8.8.8/x") is None


def test_the_webhook_check_fails_or_warns_as_configured() -> None:
    assert check_webhook(None, "fail") is None
    failed = check_webhook("http://127.0.0.1:8080/roboflow/webhook", "fail")
    assert (
        failed is not None
        and failed.status == "failed"
        and "preflight.private_endpoints: warn" in str(failed.fix)
    )
    warned = check_webhook("http://127.0.0.1:8080/roboflow/webhook", "warn")
    assert warned is not None and warned.status == "warning"


def test_a_writable_folder_gets_no_marker_and_no_new_folders(tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    existing = tmp_path / "refs"
    existing.mkdir()
    result = check_writable(
        ObjectStoragePath(existing.as_uri()), "references-writable", "references location", "fix"
    )
    assert result.status == "ok" and list(existing.iterdir()) == []
    deep = tmp_path / "results" / "p" / "20260310"
    result = check_writable(ObjectStoragePath(deep.as_uri()), "destination-writable", "destination", "fix")
    assert result.status == "ok"
    assert not (tmp_path / "results").exists()  # the folders made for the marker are gone again


def test_an_unwritable_location_fails_with_the_fix(tmp_path: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = check_writable(
        ObjectStoragePath((blocker / "below").as_uri()),
        "destination-writable",
        "destination",
        "give write access",
    )
    assert (
        result.status == "failed"
        and "is not writable" in result.message
        and result.fix == "give write access"
    )
    assert blocker.read_text() == "not a folder"
