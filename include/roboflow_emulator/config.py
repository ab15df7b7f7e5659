"""Start-up settings of the emulator (the command-line options, see `__main__.py`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_REFERENCES = 20_000
MAX_VIDEO_REFERENCES = 5_000
SHARD_SIZE = 256
RETENTION_SECONDS = 7 * 24 * 3600


@dataclass
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0
    api_keys: tuple[str, ...] = ("test-api-key",)
    workspace: str = "demo-workspace"
    publishable_key: str = "rf_pub_demo"
    no_batch_processing_keys: tuple[str, ...] = ()
    ingest_delay: float = 0.5
    stage_delay: float = 0.5
    trusted_domains: tuple[str, ...] = ("127.0.0.1", "localhost")
    public_url: str = ""
    signed_url_ttl: float = 24 * 3600.0
    upload_url_ttl: float = 3600.0
    fetch_timeout: float = 10.0
    fetch_concurrency: int = 32
    webhook_attempts: int = 4
    webhook_timeout: float = 2.0
    webhook_backoff: float = 0.2
    seconds_per_image: float = 0.0
    task_start_seconds: float = 0.0
    gpu_speedup: float = 4.0
    shard_size: int = SHARD_SIZE
    retention_seconds: float = RETENTION_SECONDS
    faults: dict[str, object] = field(default_factory=dict)
    # Initial service switches by wire name (switches.py), changed later with POST /__emulator__/switches.
    switches: dict[str, object] = field(default_factory=dict)

    def wait_out(self, delay: str, started: float) -> None:
        """Sleep until the ``delay`` setting's seconds have passed since ``started`` (monotonic). The
        setting is read again while waiting: a change at run time applies to waits under way too."""
        while (remaining := float(getattr(self, delay)) - (time.monotonic() - started)) > 0:
            time.sleep(min(remaining, 0.1))

    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
