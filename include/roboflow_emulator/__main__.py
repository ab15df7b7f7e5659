"""`python -m include.roboflow_emulator --host 127.0.0.1 --port 8765 [options]` (see docs/internals.md)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from include.roboflow_emulator.app import Emulator
from include.roboflow_emulator.config import EmulatorConfig
from include.roboflow_emulator.faults import FAULT_STATUSES


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m include.roboflow_emulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--api-key", action="append", dest="api_keys", help="accepted API key (repeatable)")
    p.add_argument("--workspace", default="demo-workspace")
    p.add_argument("--publishable-key", default="rf_pub_demo", help="sent in Authorization on webhooks")
    p.add_argument(
        "--no-batch-processing-key",
        action="append",
        default=[],
        dest="no_bp_keys",
        help="key whose workspace lacks batch processing: 402 on /batch-processing (repeatable)",
    )
    p.add_argument("--ingest-delay", type=_non_negative, default=0.5, help="seconds a shard spends indexing")
    p.add_argument("--stage-delay", type=_non_negative, default=0.5, help="minimum seconds per job stage")
    p.add_argument(
        "--trusted-domain",
        action="append",
        dest="trusted_domains",
        help="host whose URLs are fetched (repeatable; default 127.0.0.1 and localhost)",
    )
    p.add_argument("--public-url", default="", help="base of the signed URLs handed out")
    p.add_argument(
        "--signed-url-ttl",
        type=_non_negative,
        default=24 * 3600.0,
        help="lifetime in seconds of download URLs",
    )
    p.add_argument("--upload-url-ttl", type=_non_negative, default=3600.0, help="lifetime of upload URLs")
    p.add_argument("--fetch-timeout", type=_non_negative, default=10.0, help="time-out per referenced URL")
    p.add_argument("--fetch-concurrency", type=int, default=32, help="parallel fetches of referenced URLs")
    p.add_argument("--webhook-attempts", type=int, default=4, help="deliveries tried per webhook event")
    p.add_argument("--webhook-timeout", type=_non_negative, default=2.0)
    p.add_argument(
        "--webhook-backoff", type=_non_negative, default=0.2, help="first redelivery pause, doubling"
    )
    p.add_argument(
        "--seconds-per-image",
        type=_non_negative,
        default=0.0,
        help="simulated compute time per processed file (exercises processingTimeoutSeconds)",
    )
    p.add_argument(
        "--retention-seconds",
        type=_non_negative,
        default=7 * 24 * 3600.0,
        help="how long batches live (7 days, as the service)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the fault injector")
    p.add_argument(
        "--fault-rate", type=_fraction, default=0.0, help="fraction of API requests answered with an error"
    )
    p.add_argument("--fault-statuses", type=_statuses, default=list(FAULT_STATUSES))
    p.add_argument("--fault-latency-ms", type=int, default=0, help="latency added to every API request")
    p.add_argument(
        "--drop-rate", type=_fraction, default=0.0, help="fraction of API requests dropped unanswered"
    )
    p.add_argument(
        "--drop-after-write-rate",
        type=_fraction,
        default=0.0,
        help="fraction of writes applied and then dropped unanswered",
    )
    p.add_argument("--duplicate-webhooks", action="store_true", help="deliver every webhook event twice")
    p.add_argument("--log-level", default="WARNING")
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
        retention_seconds=args.retention_seconds,
        faults={
            "seed": args.seed,
            "rate": args.fault_rate,
            "statuses": args.fault_statuses,
            "latencyMs": args.fault_latency_ms,
            "dropRate": args.drop_rate,
            "dropAfterWriteRate": args.drop_after_write_rate,
            "duplicateWebhooks": args.duplicate_webhooks,
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
