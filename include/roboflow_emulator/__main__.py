"""`python -m include.roboflow_emulator --host 127.0.0.1 --port 8765 [options]` (options: README.md here)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from include.roboflow_emulator.app import Emulator
from include.roboflow_emulator.config import SHARD_SIZE, EmulatorConfig
from include.roboflow_emulator.faults import FAULT_STATUSES
from include.roboflow_emulator.switches import EXPIRED_BATCH_ID_POLICIES


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def _statuses(text: str) -> list[int]:
    try:
        statuses = [int(s) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated status codes, got {text!r}") from exc
    if not statuses or any(s not in FAULT_STATUSES for s in statuses):
        raise argparse.ArgumentTypeError(f"statuses must be drawn from {','.join(map(str, FAULT_STATUSES))}")
    return statuses


# Options that take one value: flag, type, default, help.
_VALUE_OPTIONS: tuple[tuple[str, Callable[[str], object], object, str | None], ...] = (
    ("--host", str, "127.0.0.1", None),
    ("--port", int, 8765, None),
    ("--workspace", str, "demo-workspace", None),
    ("--publishable-key", str, "rf_pub_demo", "sent in Authorization on webhooks"),
    ("--ingest-delay", _non_negative, 0.5, "seconds a shard spends indexing"),
    ("--stage-delay", _non_negative, 0.5, "minimum seconds per job stage"),
    ("--public-url", str, "", "base of the signed URLs handed out"),
    ("--signed-url-ttl", _non_negative, 24 * 3600.0, "lifetime in seconds of download URLs"),
    ("--upload-url-ttl", _non_negative, 3600.0, "lifetime of upload URLs"),
    ("--fetch-timeout", _non_negative, 10.0, "time-out per referenced URL"),
    ("--fetch-concurrency", int, 32, "parallel fetches of referenced URLs"),
    ("--webhook-attempts", int, 4, "deliveries tried per webhook event"),
    ("--webhook-timeout", _non_negative, 2.0, None),
    ("--webhook-backoff", _non_negative, 0.2, "first redelivery pause, doubling"),
    (
        "--seconds-per-image",
        _non_negative,
        0.0,
        "machine seconds per image or sampled video frame on a CPU machine (see machines.py)",
    ),
    ("--task-start-seconds", _non_negative, 0.0, "machine seconds a task spends before its first file"),
    ("--gpu-speedup", _non_negative, 4.0, "how many times faster a GPU machine is"),
    ("--shard-size", int, SHARD_SIZE, "images per shard of a reference ingest (one processing task each)"),
    ("--retention-seconds", _non_negative, 7 * 24 * 3600.0, "how long batches live (7 days, as the service)"),
    ("--job-start-latency", _non_negative, 0.0, "seconds a job waits for machines before its first stage"),
    ("--seed", int, 0, "seed of the fault injector"),
    ("--fault-rate", _fraction, 0.0, "fraction of API requests answered with an error"),
    ("--fault-statuses", _statuses, list(FAULT_STATUSES), None),
    ("--fault-latency-ms", int, 0, "latency added to every API request"),
    ("--drop-rate", _fraction, 0.0, "fraction of API requests dropped unanswered"),
    ("--download-latency-ms", int, 0, "latency added to every download through a signed URL"),
    ("--drop-after-write-rate", _fraction, 0.0, "fraction of writes applied and then dropped unanswered"),
    ("--log-level", str, "WARNING", None),
)

# Repeatable options: flag, destination, help.
_LIST_OPTIONS = (
    ("--api-key", "api_keys", "accepted API key (repeatable)"),
    (
        "--no-batch-processing-key",
        "no_bp_keys",
        "key whose workspace lacks batch processing: 402 on /batch-processing (repeatable)",
    ),
    (
        "--trusted-domain",
        "trusted_domains",
        "host whose URLs are fetched (repeatable; default 127.0.0.1 and localhost)",
    ),
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m include.roboflow_emulator", description=__doc__)
    for flag, kind, default, help_text in _VALUE_OPTIONS:
        p.add_argument(flag, type=kind, default=default, help=help_text)
    for flag, dest, help_text in _LIST_OPTIONS:
        p.add_argument(flag, action="append", default=[], dest=dest, help=help_text)
    p.add_argument("--duplicate-webhooks", action="store_true", help="deliver every webhook event twice")
    p.add_argument(
        "--credits-exhausted", action="store_true", help="job creation answers 429: no credits left"
    )
    p.add_argument(
        "--expired-batch-ids",
        choices=EXPIRED_BATCH_ID_POLICIES,
        default="reuse",
        help="an upload into an expired batch's id starts a new batch (reuse) or gets 409 (refuse)",
    )
    return p


def config_from_args(argv: Sequence[str] | None = None) -> EmulatorConfig:
    args = build_parser().parse_args(argv)
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        api_keys=tuple(args.api_keys or ("test-api-key",)),
        workspace=args.workspace,
        publishable_key=args.publishable_key,
        no_batch_processing_keys=tuple(args.no_bp_keys),
        ingest_delay=args.ingest_delay,
        stage_delay=args.stage_delay,
        trusted_domains=tuple(args.trusted_domains or ("127.0.0.1", "localhost")),
        public_url=args.public_url,
        signed_url_ttl=args.signed_url_ttl,
        upload_url_ttl=args.upload_url_ttl,
        fetch_timeout=args.fetch_timeout,
        fetch_concurrency=args.fetch_concurrency,
        webhook_attempts=args.webhook_attempts,
        webhook_timeout=args.webhook_timeout,
        webhook_backoff=args.webhook_backoff,
        seconds_per_image=args.seconds_per_image,
        task_start_seconds=args.task_start_seconds,
        gpu_speedup=args.gpu_speedup,
        retention_seconds=args.retention_seconds,
        shard_size=args.shard_size,
        faults={
            "seed": args.seed,
            "rate": args.fault_rate,
            "statuses": args.fault_statuses,
            "latencyMs": args.fault_latency_ms,
            "dropRate": args.drop_rate,
            "dropAfterWriteRate": args.drop_after_write_rate,
            "duplicateWebhooks": args.duplicate_webhooks,
            "downloadLatencyMs": args.download_latency_ms,
        },
        switches={
            "creditsExhausted": args.credits_exhausted,
            "jobStartLatencySeconds": args.job_start_latency,
            "expiredBatchIds": args.expired_batch_ids,
        },
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = config_from_args(argv)
    logging.basicConfig(level=config_level(argv), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    emulator = Emulator(config)
    # SIGTERM (how the launcher stops us) shuts the server down cleanly from another thread.
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=emulator.http.shutdown).start())
    print(f"Roboflow emulator on {emulator.url} (workspace {config.workspace})", flush=True)
    try:
        emulator.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.http.server_close()
    return 0


def config_level(argv: Sequence[str] | None) -> str:
    return str(build_parser().parse_args(argv).log_level).upper()


if __name__ == "__main__":
    sys.exit(main())
