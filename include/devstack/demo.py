"""``make demo``: two Roboflow pipelines (S3 and GCS) run end to end on this machine, no cloud needed.

It starts the Roboflow emulator, moto (S3) and the GCS emulator on free loopback ports, puts
generated images with a known bright square into a bucket on each, writes an astro.yaml with one
pipeline per bucket, runs one interval of each DAG with ``dag.test()`` in a temporary AIRFLOW_HOME,
prints what happened, and stops everything it started (also on Ctrl-C or an error).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from include.devstack import connections
from include.devstack.example_pipelines import STAND_IN_DEFAULTS, ExamplePipelines
from include.devstack.run_results import prediction_boxes, result_rows, task_results
from include.devstack.sample_media import SampleImage, sample_images, seed_gcs, seed_s3
from include.devstack.services import (
    REPO_ROOT,
    Service,
    start_gcs_emulator,
    start_moto_server,
    start_roboflow_emulator,
)
from include.roboflow_batch import task_ids

DEFAULT_OUTPUT = REPO_ROOT / "demo-output"
EXAMPLE_PIPELINES = ExamplePipelines("demo", ("demo_s3", "demo_gcs"), "every hour")
S3_BUCKET, GCS_BUCKET = EXAMPLE_PIPELINES.s3_bucket, EXAMPLE_PIPELINES.gcs_bucket
PIPELINES = EXAMPLE_PIPELINES.pipeline_ids


@dataclass
class DemoStack:
    roboflow: Service
    moto: Service
    gcs: Service

    def stop(self) -> None:
        for service in (self.roboflow, self.moto, self.gcs):
            service.stop()


@contextlib.contextmanager
def local_services(log_dir: Path) -> Iterator[DemoStack]:
    """The three stand-ins, each stopped by pid on exit, whatever happens inside."""
    started: list[Service] = []
    try:
        started.append(
            start_roboflow_emulator(
                extra_args=["--ingest-delay", "0.3", "--stage-delay", "0.3"], log_dir=log_dir
            )
        )
        started.append(start_moto_server(log_dir=log_dir))
        started.append(start_gcs_emulator(log_dir=log_dir))
        yield DemoStack(*started)
    finally:
        for service in reversed(started):
            service.stop()


def demo_astro_yaml(output_dir: Path, private_dir: Path) -> str:
    """The astro.yaml of the demo: the same schema a real project uses, pointed at the stand-ins."""
    return f"""\
defaults:
  owner: demo
  schedule: 1h
  start_date: 2026-01-01
  retries: 2
  retry_delay: 5s
  tags: [demo]
  readiness: {{max_failure_rate: 0.0, timeout: 5m, poke_interval: 1s}}
  job: {{machine_type: cpu, aggregation_format: jsonl, poke_interval: 1s, wait_timeout: 10m}}
{STAND_IN_DEFAULTS}  export:
    destination: {output_dir}/{{pipeline}}/{{interval_start:%Y%m%dT%H%M}}/

{EXAMPLE_PIPELINES.yaml(private_dir)}"""


def configure_environment(home: Path, stack: DemoStack, pipelines_file: Path) -> None:
    """Point Airflow (imported later, in this process) at the temporary home and the stand-ins."""
    from include.devstack.airflow_stack import airflow_env

    env = airflow_env(
        home,
        connections={
            "roboflow_default": connections.roboflow_connection(stack.roboflow.url),
            "demo_s3": connections.moto_connection(stack.moto.url),
            "demo_gcs": connections.gcs_anonymous_connection(),
            "demo_gcs_signer": connections.gcs_signing_connection(),
        },
        extra={
            "ROBOFLOW_PIPELINES_FILE": str(pipelines_file),
            "STORAGE_EMULATOR_HOST": stack.gcs.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
    )
    os.environ.update(env)


def run_pipelines(logical_date: datetime, log_path: Path) -> dict[str, Any]:
    """``dag.test()`` of each demo DAG; task logs go to ``log_path``, not the screen."""
    from airflow.dag_processing.dagbag import DagBag

    with _quiet_logging(log_path):
        bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {json.dumps(bag.import_errors, indent=2)}")
    runs = {}
    for pipeline in PIPELINES:
        dag = bag.get_dag(f"roboflow_{pipeline}")
        if dag is None:
            raise RuntimeError(f"DAG roboflow_{pipeline} was not built from the demo astro.yaml")
        print(f"  running {dag.dag_id} for the interval ending {logical_date:%H:%M:%S} UTC ...", flush=True)
        started = time.monotonic()
        with _quiet_logging(log_path):
            run = dag.test(logical_date=logical_date)
        runs[pipeline] = {"run": run, "seconds": time.monotonic() - started}
    return runs


@contextlib.contextmanager
def _quiet_logging(log_path: Path) -> Iterator[None]:
    """Send everything Airflow prints during a run to a file; keep the terminal for the summary."""
    # Redirect the file descriptors, not sys.stdout: Airflow's loggers keep their own stream references.
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _row_name(row: dict[str, Any]) -> str:
    for key in ("source_key", "file_name", "image_name", "name", "input_name"):
        if isinstance(row.get(key), str):
            return row[key]
    return "?"


def print_summary(pipeline: str, outcome: dict[str, Any], seeded: dict[str, SampleImage]) -> bool:
    run = outcome["run"]
    results = task_results(run.dag_id, run.run_id)
    state = str(run.state)
    print(f"\n=== {run.dag_id}: {state.upper()} in {outcome['seconds']:.1f}s (run {run.run_id})")
    print(f"    window: {run.data_interval_start:%Y-%m-%d %H:%M} -> {run.data_interval_end:%H:%M} UTC")
    for task_id, result in results.items():
        if result["state"] != "success":
            print(f"    ! task {task_id}: {result['state']}")
    listed = (results.get(task_ids.LIST_NEW_OBJECTS) or {}).get("value") or {}
    ingest = (results.get(task_ids.INGEST) or {}).get("value") or {}
    ready = (results.get(task_ids.WAIT_FOR_BATCH) or {}).get("value") or {}
    job = (results.get(task_ids.START_JOB) or {}).get("value") or {}
    done = (results.get(task_ids.WAIT_FOR_JOB) or {}).get("value") or {}
    export = (results.get(task_ids.EXPORT) or {}).get("value") or {}
    if listed:
        print(
            f"    found     {listed.get('count')} new {listed.get('media_type')} in {listed.get('source')} "
            f"(skipped {listed.get('skipped_count', 0)}); signed URLs valid {listed.get('expiry_seconds')}s"
        )
    if ingest:
        print(
            f"    ingested  into staging batch {ingest.get('batch_id')} ({ingest.get('mode')}, "
            f"{ingest.get('expected_count')} expected)"
        )
    if ready:
        print(
            f"    staged    {ready.get('staged')}/{ready.get('expected')} files, "
            f"{ready.get('failed_count', 0)} failed"
        )
    if job:
        print(
            f"    job       {job.get('job_id')} ran workflow {job.get('workflow_id')} "
            f"-> {'succeeded' if done.get('succeeded') else 'did not succeed'}"
        )
        print(f"              {job.get('job_url')}")
    if export:
        destination = str(export.get("destination", ""))
        print(f"    results   {destination}")
        print(
            f"              {export.get('files_written')} file(s) written, "
            f"{export.get('result_rows')} result rows, "
            f"reconciled: {export.get('reconciled')}"
        )
        print(f"    manifest  {export.get('manifest_uri')}")
        manifest = _load_manifest(export.get("manifest_uri"))
        _print_manifest(manifest)
        _print_predictions(Path(destination.removeprefix("file://")), manifest, seeded)
    table = ((results.get("reconcile") or {}).get("value") or {}).get("table") or {}
    if table:
        print(
            f"    table     {table.get('rows')} prediction records, "
            f"{table.get('failure_rows')} failed objects (docs/results-table.md)\n"
            f"              {table.get('predictions_uri')}"
        )
    return state == "success"


def _load_manifest(manifest_uri: object) -> dict[str, Any]:
    if not isinstance(manifest_uri, str) or not manifest_uri.startswith("file://"):
        return {}
    with contextlib.suppress(OSError, ValueError):
        return dict(json.loads(Path(manifest_uri.removeprefix("file://")).read_text()))
    return {}


def _print_manifest(manifest: dict[str, Any]) -> None:
    if not manifest:
        return
    inputs = (manifest.get("inputs") or {}).get("expected")
    ingested = (manifest.get("ingested") or {}).get("count")
    failed = (manifest.get("failed") or {}).get("count")
    rows = (manifest.get("results") or {}).get("rows")
    checks = ", ".join(
        f"{name} {'ok' if passed else 'FAILED'}" for name, passed in (manifest.get("checks") or {}).items()
    )
    print(
        f"              inputs {inputs} -> ingested {ingested}, failed {failed} "
        f"-> result rows {rows}; {checks}"
    )


def _print_predictions(destination: Path, manifest: dict[str, Any], seeded: dict[str, SampleImage]) -> None:
    rows = result_rows(destination, limit=3)
    if not rows:
        return
    source_keys = {
        s.get("name"): s.get("source_key") for s in manifest.get("sources") or [] if isinstance(s, dict)
    }
    print("    predictions (first 3), next to the square the demo drew:")
    for row in rows:
        name = _row_name(row)
        key = source_keys.get(name) or name
        boxes = prediction_boxes(row)
        drawn = seeded.get(Path(str(key)).name)
        truth = f"  (drawn at x={drawn.spot[0]} y={drawn.spot[1]}, {drawn.spot[2]} px)" if drawn else ""
        if boxes:
            box = boxes[0]
            print(
                f"      {key}: {box.get('class')} at x={box['x']:.0f} y={box['y']:.0f} "
                f"{box['width']:.0f}x{box['height']:.0f} px, confidence {box['confidence']:.2f}{truth}"
            )
        else:
            print(f"      {key}: no prediction{truth}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="where results land (default demo-output/)"
    )
    parser.add_argument("--images", type=int, default=6, help="sample images per bucket (default 6)")
    parser.add_argument("--keep-home", action="store_true", help="keep the temporary AIRFLOW_HOME and logs")
    args = parser.parse_args(argv)

    started = time.monotonic()
    output_dir = args.output.resolve()
    home = Path(tempfile.mkdtemp(prefix="roboflow-demo-airflow-"))
    log_path = home / "demo-airflow.log"
    ok = False
    try:
        print("Starting the Roboflow emulator, moto (S3) and the GCS emulator on loopback ...", flush=True)
        with local_services(home) as stack:
            print(f"  roboflow {stack.roboflow.url}   s3 {stack.moto.url}   gcs {stack.gcs.url}")
            s3_images = sample_images(args.images, prefix="camera", seed=1)
            gcs_images = sample_images(args.images, prefix="store", seed=2)
            seed_s3(stack.moto.url, S3_BUCKET, "cameras/", s3_images)
            seed_gcs(stack.gcs.url, GCS_BUCKET, "stores/", gcs_images)
            print(
                f"Seeded {len(s3_images)} images into s3://{S3_BUCKET}/cameras/ and "
                f"{len(gcs_images)} into gs://{GCS_BUCKET}/stores/ (each with one bright square)"
            )

            pipelines_file = home / "astro.yaml"
            pipelines_file.write_text(demo_astro_yaml(output_dir, home / "private-references"))
            configure_environment(home, stack, pipelines_file)
            print(f"Preparing Airflow in {home} (airflow db migrate, pool roboflow_api) ...", flush=True)
            from include.devstack.airflow_stack import ensure_pool, migrate_db

            migrate_db(os.environ)
            ensure_pool(os.environ)
            # The hourly interval that ends just after the upload holds every seeded object.
            logical_date = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
            time.sleep(2)
            runs = run_pipelines(logical_date, log_path)
            seeded = {img.name: img for img in s3_images + gcs_images}
            ok = all(print_summary(name, outcome, seeded) for name, outcome in runs.items())
    except KeyboardInterrupt:
        print("\nInterrupted: everything the demo started has been stopped.")
        return 130
    except Exception as exc:
        print(f"\nThe demo failed: {exc}\nAirflow's log: {log_path}", file=sys.stderr)
        return 1
    finally:
        # Keep the temporary home when asked, or when a run failed and its log explains why.
        if not (args.keep_home or (not ok and log_path.exists())):
            shutil.rmtree(home, ignore_errors=True)
    print(
        f"\nDone in {time.monotonic() - started:.0f}s; all services stopped. Results are under {output_dir}/"
    )
    if not ok:
        print(f"Some runs did not succeed; Airflow's log: {log_path}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
