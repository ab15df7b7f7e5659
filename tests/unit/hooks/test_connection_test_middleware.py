"""The API-server middleware that lets the UI's Test button work for roboflow connections."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from include.roboflow_batch.hooks.connection_test import connection_under_test
from include.roboflow_batch.webui.connection_test import RoboflowConnectionTestMiddleware


@pytest.fixture
def client() -> TestClient:
    """A stand-in of Airflow's route: echoes what it received and the connection under test."""
    app = FastAPI()

    @app.post("/api/v2/connections/test")
    def test_connection(body: dict[str, Any]) -> dict[str, Any]:  # sync, like Airflow's route
        return {"received": body, "under_test": connection_under_test.get()}

    @app.post("/api/v2/connections")
    def create(body: dict[str, Any]) -> dict[str, Any]:
        return {"received": body, "under_test": connection_under_test.get()}

    app.add_middleware(RoboflowConnectionTestMiddleware)
    return TestClient(app)


FORM = {"connection_id": "roboflow_prod", "conn_type": "roboflow", "host": "https://api.roboflow.com"}


@pytest.mark.parametrize("port", [0, "", None])
def test_hidden_port_is_dropped_and_the_edited_id_is_known(client: TestClient, port: Any) -> None:
    answer = client.post("/api/v2/connections/test", json={**FORM, "port": port}).json()

    assert "port" not in answer["received"]
    assert answer["received"]["host"] == FORM["host"]
    assert answer["under_test"] == "roboflow_prod"


def test_a_real_port_is_kept(client: TestClient) -> None:
    answer = client.post("/api/v2/connections/test", json={**FORM, "port": 8443}).json()

    assert answer["received"]["port"] == 8443


def test_other_connection_types_and_routes_pass_untouched(client: TestClient) -> None:
    other = client.post("/api/v2/connections/test", json={**FORM, "conn_type": "http", "port": 0}).json()
    create = client.post("/api/v2/connections", json={**FORM, "port": 0}).json()

    assert other == {"received": {**FORM, "conn_type": "http", "port": 0}, "under_test": None}
    assert create["received"]["port"] == 0 and create["under_test"] is None


def test_the_id_does_not_leak_into_later_requests(client: TestClient) -> None:
    client.post("/api/v2/connections/test", json={**FORM, "port": 0})

    assert client.post("/api/v2/connections", json=FORM).json()["under_test"] is None
