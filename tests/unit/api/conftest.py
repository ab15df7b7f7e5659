from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import respx

from tests.unit.api.client_drivers import CLIENT_KINDS, ClientDriver, make_client

BASE_URL = "https://api.example.test"
API_KEY = "unit-test-key-8f3a9c"
WORKSPACE = "ws"
DS = f"{BASE_URL}/data-staging/v1/external/{WORKSPACE}"
BP = f"{BASE_URL}/batch-processing/v1/external/{WORKSPACE}"


@pytest.fixture
def api() -> respx.MockRouter:
    with respx.mock(base_url=BASE_URL, assert_all_called=False, assert_all_mocked=True) as router:
        yield router


@pytest.fixture(params=CLIENT_KINDS)
async def driver(request: pytest.FixtureRequest, api: respx.MockRouter) -> AsyncIterator[ClientDriver]:
    """A client of each kind with the workspace preset (no lookup call) and instant retries."""
    client = make_client(request.param, BASE_URL, API_KEY, workspace=WORKSPACE)
    yield client
    await client.close()


@pytest.fixture(params=CLIENT_KINDS)
async def bare_driver(request: pytest.FixtureRequest, api: respx.MockRouter) -> AsyncIterator[ClientDriver]:
    """A client of each kind that has to look its workspace up."""
    client = make_client(request.param, BASE_URL, API_KEY)
    yield client
    await client.close()
