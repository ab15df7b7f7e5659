import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.storage._signing import generate_signed_url_v4
from google.oauth2 import service_account

from include.devstack.connections import new_service_account
from include.roboflow_batch.references import gcs_v4
from include.roboflow_batch.references.gcs import GCSGetUrlSigner
from include.roboflow_batch.references.gcs_v4 import V4Template, quote_key, signing_key_of
from tests.unit.references.signatures import gcs_v4_signature_is_valid

KEYS = ["cams/north/frame 1.jpg", "ünïcode/ß \U0001d518.png", "odd/+~!'()*=&,;$@#%?.jpg", "a" * 900 + ".jpg"]
REPO_ROOT = Path(__file__).resolve().parents[3]


def _signer(endpoint: str | None = None) -> tuple[GCSGetUrlSigner, service_account.Credentials, object]:
    info, public_key = new_service_account()
    credentials = service_account.Credentials.from_service_account_info(info)
    options = {"api_endpoint": endpoint} if endpoint else None
    client = storage.Client(project="p", credentials=AnonymousCredentials(), client_options=options)
    return GCSGetUrlSigner(client, "bkt", timedelta(hours=3), credentials), credentials, public_key


@pytest.mark.parametrize("endpoint", [None, "http://127.0.0.1:4443"])
def test_template_urls_are_byte_for_byte_the_librarys(endpoint: str | None) -> None:
    signer, credentials, public_key = _signer(endpoint)
    assert signer.signs_in_parallel  # a key file signs on every core, whatever google-auth's internals
    for key in KEYS:
        url = signer(key)
        timestamp = url.split("X-Goog-Date=")[1][:16]
        expected = generate_signed_url_v4(
            credentials,
            resource=f"/bkt/{quote_key(key)}",
            expiration=timedelta(hours=3),
            api_access_endpoint=endpoint or "https://storage.googleapis.com",
            _request_timestamp=timestamp,
        )
        assert url == expected
        assert gcs_v4_signature_is_valid(url, public_key)  # type: ignore[arg-type]


def test_a_template_that_does_not_reproduce_the_library_falls_back_to_the_library() -> None:
    real = V4Template.from_url

    def off_by_one_host(url: str, bucket: str, key: str) -> V4Template:
        template = real(url, bucket, key)
        return V4Template(**{**template.__dict__, "host": "elsewhere.example"})

    with mock.patch.object(V4Template, "from_url", side_effect=off_by_one_host):
        signer, _credentials, public_key = _signer()
    assert not signer.signs_in_parallel
    urls = list(signer.sign_many(KEYS[:2]))
    assert all(gcs_v4_signature_is_valid(url, public_key) for url in urls)  # type: ignore[arg-type]


def test_a_url_that_is_not_a_plain_v4_get_url_is_no_template() -> None:
    with pytest.raises(ValueError, match="signature"):
        V4Template.from_url("https://h/bkt/k.jpg?X-Goog-Algorithm=GOOG4-RSA-SHA256", "bkt", "k.jpg")
    with pytest.raises(ValueError, match="quoted key"):
        V4Template.from_url("https://h/bkt/other.jpg?a=b&X-Goog-Signature=00", "bkt", "k.jpg")
    with pytest.raises(ValueError, match="host header"):
        V4Template.from_url(
            "https://h/bkt/k.jpg?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-SignedHeaders=host%3Brange"
            "&X-Goog-Signature=00",
            "bkt",
            "k.jpg",
        )


def test_the_signing_key_never_shows_in_its_repr() -> None:
    info, _ = new_service_account()
    key = signing_key_of(service_account.Credentials.from_service_account_info(info))
    assert key is not None
    assert "PRIVATE" not in repr(key) and key.email in repr(key)


def test_workers_spawned_from_a_script_process_do_not_rerun_the_script(tmp_path: Path) -> None:
    """An Airflow task process runs the ``airflow`` script as ``__main__``; workers must not import it."""
    marker = tmp_path / "script-ran-in-a-worker"
    script = tmp_path / "task_process.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import logging, sys, threading
            from datetime import timedelta
            from pathlib import Path

            if __name__ != "__main__":
                Path({str(marker)!r}).write_text(__name__)
            else:
                logging.basicConfig(level=logging.DEBUG)
                from google.oauth2 import service_account
                from include.roboflow_batch.references.gcs_parallel import ParallelGCSSigner
                from include.roboflow_batch.references.gcs_v4 import checked_template, signing_key_of
                from include.devstack.connections import new_service_account
                from tests.unit.references.signatures import gcs_v4_signature_is_valid

                info, public_key = new_service_account()
                key = signing_key_of(service_account.Credentials.from_service_account_info(info))
                template = checked_template(key, "bkt", timedelta(hours=1), "https://storage.googleapis.com")
                threading.Thread(target=lambda: None).start()  # a task process runs threads
                with ParallelGCSSigner(key, template, workers=2) as signer:
                    urls = list(signer.sign_many(f"k/{{n}}.jpg" for n in range(600)))
                assert len(urls) == 600 and all(gcs_v4_signature_is_valid(u, public_key) for u in urls[::97])
                print(info["private_key"].splitlines()[1], file=sys.stderr)  # a line of the key, to look for
                print("signed", len(urls))
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "signed 600" in done.stdout
    assert not marker.exists()
    key_line = done.stderr.strip().splitlines()[-1]
    # The only place the key appears is the line the script printed on purpose.
    assert (done.stdout + done.stderr).count(key_line) == 1


def test_the_probe_key_needs_quoting_of_every_kind() -> None:
    quoted = quote_key(gcs_v4.PROBE_KEY)
    assert "%C3%A4" in quoted and "%20" in quoted and "%2B" in quoted and "~" in quoted and "/" in quoted
