from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from google.auth.credentials import AnonymousCredentials, Credentials
from google.cloud import storage
from google.oauth2 import service_account

from include.devstack.connections import new_service_account
from include.devstack.gcs_listing import GCSListingStub, stub_listing
from include.roboflow_batch.references.gcs import GCSGetUrlSigner, iter_gcs_objects
from tests.unit.references.signatures import gcs_v4_signature_is_valid


class TokenCredentials(Credentials):
    """Credentials without a private key, like application default credentials on GCE."""

    def __init__(self, email: str | None = None) -> None:
        super().__init__()
        self.service_account_email = email
        self.refreshes = 0

    def refresh(self, request: Any) -> None:
        self.refreshes += 1
        self.token = f"access-token-{self.refreshes}"
        self.expiry = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None)


def _client() -> storage.Client:
    return storage.Client(project="p", credentials=AnonymousCredentials())


def test_key_file_credentials_sign_locally_and_verifiably() -> None:
    info, public_key = new_service_account()
    credentials = service_account.Credentials.from_service_account_info(info)
    signer = GCSGetUrlSigner(_client(), "bkt", timedelta(hours=2), credentials)
    assert not signer.uses_sign_blob
    url = signer("cams/north/frame 1.jpg")
    assert "X-Goog-Expires=7200" in url
    assert gcs_v4_signature_is_valid(url, public_key)


def test_credentials_without_a_key_sign_through_iam_as_the_service_account() -> None:
    credentials = TokenCredentials(email="runner@p.iam.gserviceaccount.com")
    signer = GCSGetUrlSigner(_client(), "bkt", timedelta(hours=1), credentials)
    assert signer.uses_sign_blob
    with mock.patch.object(storage.Blob, "generate_signed_url", return_value="signed") as generate:
        assert signer("a.jpg") == "signed"
    kwargs = generate.call_args.kwargs
    assert kwargs["service_account_email"] == "runner@p.iam.gserviceaccount.com"
    assert kwargs["access_token"] == "access-token-1"
    assert kwargs["version"] == "v4"
    # A valid token is reused, not refreshed per URL.
    with mock.patch.object(storage.Blob, "generate_signed_url", return_value="signed"):
        signer("b.jpg")
    assert credentials.refreshes == 1


def test_an_expiring_token_is_refreshed_before_signing() -> None:
    credentials = TokenCredentials(email="runner@p.iam.gserviceaccount.com")
    signer = GCSGetUrlSigner(_client(), "bkt", timedelta(hours=1), credentials)
    credentials.expiry = (datetime.now(UTC) + timedelta(minutes=1)).replace(tzinfo=None)
    with mock.patch.object(storage.Blob, "generate_signed_url", return_value="signed") as generate:
        signer("a.jpg")
    assert generate.call_args.kwargs["access_token"] == "access-token-2"


def test_keyless_credentials_need_a_service_account_email() -> None:
    with pytest.raises(ValueError, match="service_account_email"):
        GCSGetUrlSigner(_client(), "bkt", timedelta(hours=1), TokenCredentials(email=None))


def test_listing_reads_every_page_of_the_prefix_with_sizes_and_times() -> None:
    client = _client()
    stub = GCSListingStub(
        "bkt",
        [("in/a.jpg", 3), ("other/x.jpg", 5), ("in/b.png", 0), ("in/c d.jpg", 7)],
        "2026-03-01T04:05:06.789Z",
    )
    stub_listing(client, stub)
    objects = list(iter_gcs_objects(client, "bkt", "in/", page_size=2))
    assert [(o.key, o.size) for o in objects] == [("in/a.jpg", 3), ("in/b.png", 0), ("in/c d.jpg", 7)]
    assert {o.last_modified for o in objects} == {datetime(2026, 3, 1, 4, 5, 6, 789000, tzinfo=UTC)}
    assert stub.calls == 2


def test_a_listed_object_without_an_update_time_is_named_in_the_error() -> None:
    client = _client()
    stub = GCSListingStub("bkt", [("in/a.jpg", 3)])
    stub.items = ['{"name": "in/a.jpg", "size": "3"}']
    stub_listing(client, stub)
    with pytest.raises(ValueError, match=r"'in/a\.jpg'"):
        list(iter_gcs_objects(client, "bkt", "in/"))


def test_many_keys_are_signed_in_worker_processes_in_order_and_verifiably() -> None:
    from urllib.parse import unquote, urlsplit

    info, public_key = new_service_account()
    credentials = service_account.Credentials.from_service_account_info(info)
    signer = GCSGetUrlSigner(_client(), "bkt", timedelta(hours=2), credentials)
    keys = [f"cams/north/frame {n}.jpg" for n in range(700)]  # several chunks
    try:
        urls = list(signer.sign_many(keys))
    finally:
        signer.close()
    assert [unquote(urlsplit(url).path) for url in urls] == [f"/bkt/{key}" for key in keys]
    assert all("X-Goog-Expires=7200" in url for url in urls)
    assert all(gcs_v4_signature_is_valid(url, public_key) for url in urls[::50])
    # The same URL the library makes in-process, apart from the time of signing.
    single = signer(keys[0])
    assert urls[0].split("X-Goog-Date=")[0] == single.split("X-Goog-Date=")[0]


def test_keyless_signers_sign_many_one_by_one() -> None:
    credentials = TokenCredentials(email="runner@p.iam.gserviceaccount.com")
    signer = GCSGetUrlSigner(_client(), "bkt", timedelta(hours=1), credentials)
    with mock.patch.object(storage.Blob, "generate_signed_url", side_effect=lambda **kw: "signed") as made:
        assert list(signer.sign_many(["a.jpg", "b.jpg"])) == ["signed", "signed"]
    assert made.call_count == 2
