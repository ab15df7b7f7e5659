"""The emulator as users start it: a child process from the launcher, driven over real HTTP."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from include.devstack.services import start_roboflow_emulator
from include.roboflow_emulator.testing import EmulatorHandle

REPO_ROOT = Path(__file__).resolve().parents[3]
CLI = REPO_ROOT / ".venv-cli" / "bin" / "inference"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def handle():
    service = start_roboflow_emulator(
        extra_args=[
            "--ingest-delay",
            "0.1",
            "--stage-delay",
            "0.1",
            "--seed",
            "3",
            "--api-key",
            "test-api-key",
            "--api-key",
            "second-key",
        ]
    )
    try:
        yield EmulatorHandle(service)
    finally:
        service.stop()


def test_handle_controls_faults_state_and_reset(handle: EmulatorHandle) -> None:
    assert handle.base_url.startswith("http://127.0.0.1:")
    for key in (handle.api_key, "second-key"):
        assert httpx.get(handle.base_url + "/", params={"api_key": key}).json() == {
            "workspace": handle.workspace
        }
    settings = handle.set_faults(rate=1.0, statuses=[503])
    assert settings["rate"] == 1.0 and settings["seed"] == 3
    assert httpx.get(handle.base_url + "/", params={"api_key": handle.api_key}).status_code == 503
    handle.clear_faults()
    assert httpx.get(handle.base_url + "/", params={"api_key": handle.api_key}).status_code == 200
    assert handle.state()["requests"]["GET /"] >= 3
    handle.reset()
    assert handle.state()["requests"] == {}


def test_command_line_faults_apply_from_the_start() -> None:
    service = start_roboflow_emulator(extra_args=["--drop-rate", "1.0"])
    try:
        with pytest.raises(httpx.TransportError):
            httpx.get(service.url + "/", params={"api_key": "test-api-key"})
        assert httpx.get(service.url + "/__emulator__/health").json() == {"status": "ok"}
    finally:
        service.stop()


def test_shard_size_and_download_latency_options_are_read() -> None:
    from include.roboflow_emulator.__main__ import config_from_args
    from include.roboflow_emulator.faults import FaultInjector, parse_fault_update

    config = config_from_args(["--shard-size", "2", "--download-latency-ms", "250"])
    assert config.shard_size == 2
    assert FaultInjector().update(config.faults).download_latency_ms == 250
    updated = parse_fault_update({"downloadLatencyMs": 40}, FaultInjector().settings)
    assert updated.to_json()["downloadLatencyMs"] == 40
    with pytest.raises(ValueError, match="downloadLatencyMs"):
        parse_fault_update({"downloadLatencyMs": -1}, updated)


@pytest.mark.skipif(not CLI.exists(), reason="the official CLI venv (.venv-cli) is not installed")
def test_official_cli_lists_batches_and_jobs(handle: EmulatorHandle, tmp_path: Path) -> None:
    env = {**os.environ, "API_BASE_URL": handle.base_url, "ROBOFLOW_API_KEY": handle.api_key}
    for command in (["data-staging", "list-batches"], ["batch-processing", "list-jobs"]):
        result = subprocess.run(
            [str(CLI), "rf-cloud", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stdout + result.stderr
