"""Connections to the emulator and moto for ingest integration tests, and a sensor runner."""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred
from PIL import Image

from include.devstack.sample_media import stand_in_s3_client

ROBOFLOW_CONN_ID = "roboflow_ingest_it"
AWS_CONN_ID = "aws_ingest_it"


@pytest.fixture(scope="module")
def roboflow_conn(roboflow_emulator: Any) -> Iterator[str]:
    """An Airflow connection (env var) pointing at the session's emulator."""
    name = f"AIRFLOW_CONN_{ROBOFLOW_CONN_ID.upper()}"
    previous = os.environ.get(name)
    os.environ[name] = json.dumps(
        {
            "conn_type": "roboflow",
            "host": roboflow_emulator.base_url,
            "password": roboflow_emulator.api_key,
            "extra": {"workspace": roboflow_emulator.workspace, "timeout": 30, "max_retries": 2},
        }
    )
    yield ROBOFLOW_CONN_ID
    if previous is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = previous


@pytest.fixture(scope="module")
def aws_conn(moto_server: Any) -> Iterator[str]:
    name = f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}"
    os.environ[name] = json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {
                "endpoint_url": moto_server.url,
                "region_name": "us-east-1",
                "config_kwargs": {"signature_version": "s3v4"},
            },
        }
    )
    yield AWS_CONN_ID
    os.environ.pop(name, None)


@pytest.fixture(scope="module")
def s3(moto_server: Any) -> Any:
    return stand_in_s3_client(moto_server.url)


def png_bytes(seed: int) -> bytes:
    """A small, distinct, decodable PNG."""
    image = Image.new("RGB", (8, 8), ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def run_sensor(sensor: Any, context: dict[str, Any]) -> Any:
    """Execute a sensor; if it defers, run its trigger to its one event and resume, as Airflow would."""
    try:
        return sensor.execute(context)
    except TaskDeferred as deferred:
        trigger = deferred.trigger

        async def collect() -> list[Any]:
            return [event async for event in trigger.run()]

        events = asyncio.run(collect())
        assert len(events) == 1, events
        return getattr(sensor, deferred.method_name)(context, event=events[0].payload)
