"""The harness itself: the real console script, credentials from the environment, clear failures."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from include.devstack.official_cli import (
    CliNotInstalledError,
    CliTimeoutError,
    ForkServer,
    InferenceCli,
    locate_cli,
)
from tests.contract.conftest import EmulatorUnderTest, unique_id

pytestmark = pytest.mark.contract


def test_missing_cli_tells_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(CliNotInstalledError, match=r"make install-cli"):
        locate_cli(tmp_path / ".venv-cli")


def test_console_script_reads_base_url_and_key_from_the_environment(
    emulator: EmulatorUnderTest, cli_executable: Path, simple_images: list
) -> None:
    batch_id = unique_id("ct-exec")
    emulator.probe.upload_image(batch_id, simple_images[0].path)
    # The installed `inference` entry point, in a fresh process: no fork server involved.
    cli = InferenceCli(
        emulator.cli.api_base_url, emulator.cli.api_key, mode="exec", executable=cli_executable
    )

    result = cli.run("data-staging", "show-batch-details", "--batch-id", batch_id, timeout=120)

    assert f"[id={batch_id}]" in result.stdout
    assert "simple-batch" in result.stdout


def test_a_hanging_call_is_cut_off_by_its_timeout(
    emulator: EmulatorUnderTest, cli_executable: Path, cli_mode: str, cli_forkserver: ForkServer | None
) -> None:
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        base_url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        cli = InferenceCli(
            base_url, "any-key", mode=cli_mode, executable=cli_executable, forkserver=cli_forkserver
        )

        with pytest.raises(CliTimeoutError, match="timed out after 2s"):
            cli.run("data-staging", "list-batches", timeout=2)

    # The runner is still usable afterwards.
    assert emulator.cli.run("data-staging", "list-batches").returncode == 0


def test_unknown_api_key_fails_with_the_clis_unauthorised_message(emulator: EmulatorUnderTest) -> None:
    result = emulator.cli.run(
        "data-staging", "list-batches", env={"ROBOFLOW_API_KEY": "not-a-key"}, check=False
    )

    assert result.returncode == 1
    assert "Request unauthorised" in result.stdout


def test_unknown_batch_fails_with_the_servers_message(emulator: EmulatorUnderTest) -> None:
    result = emulator.cli.run("data-staging", "show-batch-details", "-b", "ct-no-such-batch", check=False)

    assert result.returncode == 1
    assert "404" in result.stdout and "ct-no-such-batch" in result.stdout


def test_workspace_without_batch_processing_gets_402(
    slow_emulator: EmulatorUnderTest, simple_images: list
) -> None:
    batch_id = unique_id("ct-402")
    slow_emulator.probe.upload_image(batch_id, simple_images[0].path)

    result = slow_emulator.cli.run(
        "batch-processing", "process-images-with-workflow", "-b", batch_id, "-w", "image-stats",
        env={"ROBOFLOW_API_KEY": "starter-plan-key"}, check=False,
    )  # fmt: skip

    assert result.returncode == 1
    assert "402" in result.stdout


@pytest.mark.parametrize(("status", "attempts"), [(503, 3), (429, 3), (500, 1)])
def test_injected_faults_meet_the_clients_retry_policy(
    slow_emulator: EmulatorUnderTest, status: int, attempts: int
) -> None:
    """The official client retries 429 and 503 three times and gives up on 500 at once."""
    workspace_route = "GET /"
    before = slow_emulator.probe.state()["requests"].get(workspace_route, 0)
    slow_emulator.handle.set_faults(rate=1.0, statuses=[status])
    try:
        result = slow_emulator.cli.run("data-staging", "list-batches", check=False)
    finally:
        slow_emulator.handle.clear_faults()

    assert result.returncode == 1
    assert f"invalid response code for list batches operation {status}" in result.stdout
    assert slow_emulator.probe.state()["requests"][workspace_route] - before == attempts
