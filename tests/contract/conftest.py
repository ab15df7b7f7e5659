"""Fixtures of the contract suite: the official CLI bound to emulator instances, media and peers.

Everything here is session-scoped and cached: media are generated once, the CLI fork server
imports inference-cli once, and a second emulator with long stage delays exists only for the
tests that must catch a job while it is still running.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from include.devstack.official_cli import (
    CliNotInstalledError,
    ForkServer,
    InferenceCli,
    locate_cli,
    start_forkserver,
)
from include.roboflow_emulator.testing import EmulatorHandle
from tests.contract.emulator_probe import EmulatorProbe
from tests.contract.media import (
    GeneratedImage,
    VideoSpec,
    image_specs,
    write_images,
    write_video,
)
from tests.contract.webhooks import WebhookReceiver

SIMPLE_IMAGE_COUNT = 12  # <= 32: the CLI uploads them one by one into a simple batch
BULK_IMAGE_COUNT = 300  # > 32: the CLI packs tars of 256 images, so two shards
VIDEO_SPECS = (
    VideoSpec("red.mp4", 64, 48, fps=10, frames=20, colour=(200, 30, 30)),
    VideoSpec("blue.mp4", 80, 64, fps=10, frames=15, colour=(30, 40, 210)),
)


def unique_id(prefix: str) -> str:
    """A batch or job id that no other test uses (job ids must stay <= 20 characters)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- the official CLI --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cli_executable() -> Path:
    try:
        return locate_cli()
    except CliNotInstalledError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def cli_mode() -> str:
    return os.environ.get("CONTRACT_CLI_MODE", "fork")


@pytest.fixture(scope="session")
def cli_forkserver(
    cli_executable: Path, cli_mode: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ForkServer | None]:
    if cli_mode != "fork":
        yield None
        return
    server = start_forkserver(tmp_path_factory.mktemp("cli-forkserver"))
    try:
        yield server
    finally:
        server.stop()


@dataclass
class EmulatorUnderTest:
    """One emulator instance with the CLI and a probe bound to it."""

    handle: EmulatorHandle
    cli: InferenceCli
    probe: EmulatorProbe

    @property
    def publishable_key(self) -> str:
        return self.handle.publishable_key


def _bind(
    handle: EmulatorHandle, cli_executable: Path, cli_mode: str, forkserver: ForkServer | None
) -> EmulatorUnderTest:
    cli = InferenceCli(
        handle.base_url, handle.api_key, mode=cli_mode, executable=cli_executable, forkserver=forkserver
    )
    return EmulatorUnderTest(handle, cli, EmulatorProbe(handle.base_url, handle.api_key, handle.workspace))


@pytest.fixture(scope="session")
def emulator(
    cli_forkserver: ForkServer | None, cli_executable: Path, cli_mode: str, roboflow_emulator: EmulatorHandle
) -> Iterator[EmulatorUnderTest]:
    """The session emulator (short delays) with the CLI pointed at it."""
    bound = _bind(roboflow_emulator, cli_executable, cli_mode, cli_forkserver)
    try:
        yield bound
    finally:
        bound.probe.close()


@pytest.fixture(scope="session")
def slow_emulator(
    cli_forkserver: ForkServer | None, cli_executable: Path, cli_mode: str
) -> Iterator[EmulatorUnderTest]:
    """An emulator whose job stages last seconds each, so a job can be caught while it runs."""
    from include.devstack.services import start_roboflow_emulator

    # A fresh `inference` process needs several seconds just to import: give exec mode more time.
    stage_delay = "3" if cli_mode == "fork" else "15"
    slow = ("--ingest-delay", "0.2", "--stage-delay", stage_delay)
    without_batch_processing = ("--no-batch-processing-key", "starter-plan-key")
    service = start_roboflow_emulator(extra_args=[*slow, *without_batch_processing])
    bound = _bind(EmulatorHandle(service), cli_executable, cli_mode, cli_forkserver)
    try:
        yield bound
    finally:
        bound.probe.close()
        service.stop()


# -- media -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contract-media")


@pytest.fixture(scope="session")
def simple_images(media_root: Path) -> list[GeneratedImage]:
    return write_images(image_specs(SIMPLE_IMAGE_COUNT, prefix="simple"), media_root / "simple")


@pytest.fixture(scope="session")
def bulk_images(media_root: Path) -> list[GeneratedImage]:
    return write_images(image_specs(BULK_IMAGE_COUNT, prefix="bulk"), media_root / "bulk")


@pytest.fixture(scope="session")
def videos(media_root: Path) -> dict[str, tuple[VideoSpec, Path]]:
    directory = media_root / "videos"
    return {spec.name: (spec, write_video(spec, directory)) for spec in VIDEO_SPECS}


# -- peers: object storage and a webhook receiver ------------------------------------------------


@pytest.fixture(scope="session")
def webhooks() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@dataclass
class S3Bucket:
    client: object
    name: str

    def put(self, key: str, path: Path) -> None:
        self.client.upload_file(str(path), self.name, key)  # type: ignore[attr-defined]

    def presign(self, key: str, expires: int = 3600) -> str:
        return self.client.generate_presigned_url(  # type: ignore[attr-defined]
            "get_object", Params={"Bucket": self.name, "Key": key}, ExpiresIn=expires
        )


@pytest.fixture(scope="session")
def s3_bucket(moto_server: object) -> S3Bucket:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=moto_server.url,  # type: ignore[attr-defined]
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(signature_version="s3v4"),
    )
    name = "contract-media"
    client.create_bucket(Bucket=name)
    return S3Bucket(client, name)


def write_references(path: Path, references: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(ref) + "\n" for ref in references))
    return path
