"""``make up`` / ``make down``: the whole project on this machine, with the Airflow UI.

``up`` starts the stand-ins (Roboflow emulator, moto for S3, the GCS emulator), writes an astro.yaml
of two example pipelines scheduled every two minutes, starts Airflow's api-server, scheduler,
dag-processor and triggerer (LocalExecutor, SQLite) with the connections and the pool, and a small
generator that drops new sample images into both buckets every minute, so every scheduled run has
work. It prints the URL and the login, records every process id in ``.airflow/local-stack/pids.json``
and returns; ``down`` stops exactly those processes (and their children) by pid.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from include.devstack import connections
from include.devstack.airflow_stack import (
    airflow_env,
    descendants,
    ensure_pool,
    migrate_db,
    start_airflow_stack,
    stop_pids,
)
from include.devstack.example_pipelines import STAND_IN_DEFAULTS, ExamplePipelines
from include.devstack.services import (
    LOOPBACK,
    REPO_ROOT,
    free_port,
    start_gcs_emulator,
    start_moto_server,
    start_roboflow_emulator,
)

STATE_DIR = REPO_ROOT / ".airflow" / "local-stack"
PIDS_FILE = STATE_DIR / "pids.json"
EXAMPLE_PIPELINES = ExamplePipelines("local", ("local_cameras", "local_stores"), "every minute")
S3_BUCKET, GCS_BUCKET = EXAMPLE_PIPELINES.s3_bucket, EXAMPLE_PIPELINES.gcs_bucket
PREFERRED_UI_PORT = 8080
GENERATOR_PERIOD_S = 60


def pipelines_yaml(results: Path, private: Path, webhook_url: str) -> str:
    return f"""\
# Example pipelines of the local stack (make up): the same schema a deployment uses.
defaults:
  owner: local
  schedule: 2m
  start_date: 2026-01-01
  retries: 2
  retry_delay: 10s
  tags: [local]
  webhook_url: {webhook_url}
  webhook_fallback_interval: 2m
  readiness: {{max_failure_rate: 0.0, timeout: 10m}}
  job: {{machine_type: cpu, aggregation_format: jsonl, wait_timeout: 30m}}
{STAND_IN_DEFAULTS}  export:
    destination: {results}/{{pipeline}}/{{interval_start:%Y%m%dT%H%M}}/

{EXAMPLE_PIPELINES.yaml(private)}"""


def ui_port() -> int:
    import socket

    with socket.socket() as sock:
        if sock.connect_ex((LOOPBACK, PREFERRED_UI_PORT)) != 0:
            return PREFERRED_UI_PORT
    return free_port()


def up() -> int:
    if PIDS_FILE.exists():
        print(f"A local stack is already recorded in {PIDS_FILE}: run `make down` first.", file=sys.stderr)
        return 1
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    logs = STATE_DIR / "logs"
    logs.mkdir(exist_ok=True)
    pids: dict[str, int] = {}
    try:
        emulator = start_roboflow_emulator(
            extra_args=["--ingest-delay", "2", "--stage-delay", "5"], log_dir=logs
        )
        pids["roboflow-emulator"] = emulator.pid
        moto = start_moto_server(log_dir=logs)
        pids["moto"] = moto.pid
        gcs = start_gcs_emulator(log_dir=logs)
        pids["gcs-emulator"] = gcs.pid
        generator = subprocess.Popen(
            [sys.executable, "-m", "include.devstack.local_stack", "generate", moto.url, gcs.url],
            stdout=open(logs / "generator.log", "ab"),  # noqa: SIM115 - the child owns it
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            cwd=str(REPO_ROOT),
        )
        pids["sample-generator"] = generator.pid

        port = ui_port()
        home = STATE_DIR / "airflow-home"
        home.mkdir(exist_ok=True)
        pipelines_file = STATE_DIR / "astro.yaml"
        pipelines_file.write_text(
            pipelines_yaml(
                STATE_DIR / "results", STATE_DIR / "private", f"http://{LOOPBACK}:{port}/roboflow/webhooks"
            )
        )
        env = airflow_env(
            home,
            connections={
                "roboflow_default": connections.roboflow_connection(
                    emulator.url, publishable_key=connections.DEMO_PUBLISHABLE_KEY
                ),
                "local_s3": connections.moto_connection(moto.url),
                "local_gcs": connections.gcs_anonymous_connection(),
                "local_gcs_signer": connections.gcs_signing_connection(),
            },
            extra={
                "ROBOFLOW_PIPELINES_FILE": str(pipelines_file),
                "STORAGE_EMULATOR_HOST": gcs.url,
                "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            },
        )
        migrate_db(env)
        ensure_pool(env)
        stack = start_airflow_stack(home, env, port=port)
        pids["api-server"] = stack.api_server.pid
        for component in stack.components:
            pids[component.name] = component.pid
    except BaseException:
        stop_recorded(pids)
        raise
    PIDS_FILE.write_text(json.dumps(pids, indent=2))
    print(
        f"\nAirflow UI: {stack.base_url}  (login: admin / {stack.password})\n"
        f"Roboflow view: {stack.base_url}/plugin/roboflow\n"
        f"Pipelines: {pipelines_file} (every 2 minutes; new sample images every minute)\n"
        f"Logs: {logs} and {home / 'component-logs'}\nStop everything: make down"
    )
    return 0


def stop_recorded(pids: dict[str, int]) -> None:
    """Stop the recorded processes and everything below them, by pid."""
    everything: list[int] = []
    for pid in pids.values():
        everything.extend(descendants(pid))
        everything.append(pid)
    stop_pids(everything, timeout=15)


def down() -> int:
    if not PIDS_FILE.exists():
        print("No local stack is recorded: nothing to stop.")
        return 0
    pids = json.loads(PIDS_FILE.read_text())
    stop_recorded(pids)
    PIDS_FILE.unlink()
    print(f"Stopped {', '.join(pids)}.")
    return 0


def generate(s3_url: str, gcs_url: str, period: float = GENERATOR_PERIOD_S) -> int:
    """Every ``period`` seconds, two new images into each bucket (names never repeat)."""
    from include.devstack.sample_media import sample_images, seed_gcs, seed_s3

    tick = 0
    while True:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        with contextlib.suppress(Exception):  # a stand-in restarting must not end the generator
            seed_s3(s3_url, S3_BUCKET, "cameras/", sample_images(2, prefix=f"cam-{stamp}", seed=tick))
            seed_gcs(gcs_url, GCS_BUCKET, "stores/", sample_images(2, prefix=f"store-{stamp}", seed=tick + 1))
            print(
                f"{stamp}: 2 images into s3://{S3_BUCKET}/cameras/ and gs://{GCS_BUCKET}/stores/", flush=True
            )
        tick += 2
        time.sleep(period)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.devstack.local_stack")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up")
    commands.add_parser("down")
    gen = commands.add_parser("generate")
    gen.add_argument("s3_url")
    gen.add_argument("gcs_url")
    args = parser.parse_args(argv)
    if args.command == "up":
        return up()
    if args.command == "down":
        return down()
    return generate(args.s3_url, args.gcs_url)


if __name__ == "__main__":
    sys.exit(main())
