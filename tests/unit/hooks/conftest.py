from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest


@pytest.fixture
def roboflow_conn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Define a Roboflow connection through an AIRFLOW_CONN_* variable (no metadata DB needed)."""

    def define(conn_id: str = "roboflow_default", **fields: object) -> None:
        fields.setdefault("conn_type", "roboflow")
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))

    yield define
