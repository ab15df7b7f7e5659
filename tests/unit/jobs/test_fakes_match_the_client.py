"""The fakes stand in for the real client only while they offer the same methods with the same parameters.

The job step's Protocols (``jobs.clients``) are what mypy checks the code against; here the real clients
and the fakes are both held to them, so neither side can drift without a failing test.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from include.roboflow_batch.api.client import AsyncRoboflowClient, RoboflowClient
from include.roboflow_batch.jobs.clients import AsyncJobsClient, JobsClient
from tests.unit.jobs.fakes import AsyncFakeJobs, FakeJobs, FakeStaging


def _protocol_methods(protocol: type) -> list[str]:
    return sorted(name for name in vars(protocol) if not name.startswith("_"))


def _parameters(function: Callable[..., Any]) -> list[tuple[str, Any]]:
    """Names, kinds and defaults: what a caller relies on (annotations are mypy's business)."""
    signature = inspect.signature(function)
    return [(p.name, p.kind, p.default) for p in signature.parameters.values() if p.name != "self"]


@pytest.mark.parametrize(
    ("protocol", "real", "fake"),
    [(JobsClient, RoboflowClient, FakeJobs), (AsyncJobsClient, AsyncRoboflowClient, AsyncFakeJobs)],
    ids=["sync", "async"],
)
def test_job_fakes_and_clients_share_the_protocol(protocol: type, real: type, fake: type) -> None:
    methods = _protocol_methods(protocol)
    assert methods, "the protocol lists the job endpoints"
    for name in methods:
        wanted = _parameters(getattr(protocol, name))
        assert _parameters(getattr(real, name)) == wanted, f"{real.__name__}.{name}"
        if hasattr(fake, name):  # AsyncFakeJobs has no create_job: the trigger never creates jobs
            assert _parameters(getattr(fake, name)) == wanted, f"{fake.__name__}.{name}"
        is_async = inspect.iscoroutinefunction(getattr(protocol, name))
        assert inspect.iscoroutinefunction(getattr(real, name)) == is_async, f"{real.__name__}.{name}"


def test_the_sync_job_fake_covers_every_job_endpoint() -> None:
    assert set(_protocol_methods(JobsClient)) <= set(vars(FakeJobs))


@pytest.mark.parametrize(
    "name",
    ["get_batch", "list_batch_parts", "iter_batch_files", "count_batch", "iter_shards", "download_file"],
)
def test_staging_fake_matches_the_client(name: str) -> None:
    assert _parameters(getattr(FakeStaging, name)) == _parameters(getattr(RoboflowClient, name))
