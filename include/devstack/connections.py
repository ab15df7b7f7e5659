"""Airflow connections for the local stand-ins, as ``AIRFLOW_CONN_*`` JSON values.

GCS needs two: an anonymous one for storage calls (the emulator checks no credentials, and a
service-account connection would try to fetch an OAuth token from the internet) and one holding
a locally generated service-account key, used only to sign V4 URLs offline.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEMO_API_KEY = "test-api-key"
DEMO_WORKSPACE = "demo-workspace"
DEMO_PUBLISHABLE_KEY = "rf_pub_demo"
DEMO_GCP_PROJECT = "demo-project"


def roboflow_connection(
    base_url: str,
    api_key: str = DEMO_API_KEY,
    workspace: str = DEMO_WORKSPACE,
    publishable_key: str | None = None,
) -> dict[str, Any]:
    extra = {"workspace": workspace}
    if publishable_key:
        extra["publishable_key"] = publishable_key  # checked on webhooks by the receiver
    return {"conn_type": "roboflow", "host": base_url, "password": api_key, "extra": extra}


def moto_connection(endpoint_url: str) -> dict[str, Any]:
    """An AWS connection to moto, signing SigV4 like real S3 (a custom endpoint would default to SigV2)."""
    return {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {
            "endpoint_url": endpoint_url,
            "region_name": "us-east-1",
            "config_kwargs": {"signature_version": "s3v4"},
        },
    }


def gcs_anonymous_connection() -> dict[str, Any]:
    """Storage calls against the emulator (which must be named in ``STORAGE_EMULATOR_HOST``)."""
    return {
        "conn_type": "google_cloud_platform",
        "extra": {"is_anonymous": True, "project": DEMO_GCP_PROJECT},
    }


def new_service_account(project: str = "test-project") -> tuple[dict[str, Any], rsa.RSAPublicKey]:
    """A key-file dict for an RSA key made here and now, and its public half: it signs URLs locally
    and is valid nowhere."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "local-signer",
        "private_key": pem,
        "client_email": f"signer@{project}.iam.gserviceaccount.com",
        "client_id": "1",
        # Loopback port 9 (discard): a token refresh fails at once instead of hanging on the internet.
        "token_uri": "http://127.0.0.1:9/token",
    }
    return info, key.public_key()


@cache
def fake_service_account_info() -> dict[str, str]:
    """The dev stack's service-account key (one per process)."""
    info, _ = new_service_account(DEMO_GCP_PROJECT)
    return info


def gcp_connection(extra: dict[str, Any]) -> str:
    """An ``AIRFLOW_CONN_*`` value for a Google Cloud connection with ``extra``."""
    return json.dumps({"conn_type": "google_cloud_platform", "extra": extra})


def gcs_signing_connection() -> dict[str, Any]:
    return {
        "conn_type": "google_cloud_platform",
        "extra": {"keyfile_dict": json.dumps(fake_service_account_info()), "project": DEMO_GCP_PROJECT},
    }
