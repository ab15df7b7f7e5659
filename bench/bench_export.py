"""Export of a finished job's output, side by side with the official CLI's
``inference rf-cloud data-staging export-batch`` on the same output batches of the same job:
an archive-heavy batch (stage ``export``: ``.tar.gz`` per shard and part) and a raw-file batch
(stage ``processing``: one file per image plus result files), for 10,000 and 20,000 input images.
Runs alternate (CLI first, then ours first); the CLI runs from a warm fork server, so its Python
imports are not counted. The exported content is compared by sha256 (multiset of file digests).
A third contender in the same alternation transfers everything on the exporting process's threads
(``transfer_processes=0``) instead of the default worker processes, one per core: wall time and CPU
seconds (this process and the workers it started).
``BENCH_EXPORT_STAGES`` (default ``export,processing``) picks the batches to measure.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import result
from include.devstack.loopback import serving_bodies
from include.devstack.services import running, start_roboflow_emulator
from include.roboflow_emulator.testing import EmulatorHandle

SIZES = tuple(int(n) for n in os.environ.get("BENCH_EXPORT_IMAGES", "10000,20000").split(","))
# Archive exports take a second or two and swing with the disk's state: more alternating pairs.
REPEATS = {
    stage: int(os.environ.get("BENCH_EXPORT_REPEATS", default))
    for stage, default in (("export", "4"), ("processing", "2"))
}
CHUNK = 100  # references per ingest request: one shard, so one archive per part, per 100 images
KINDS = {"export": "archives", "processing": "raw files"}
STAGES = {
    stage: KINDS[stage] for stage in os.environ.get("BENCH_EXPORT_STAGES", "export,processing").split(",")
}
OWN_FILES = ("manifest.json", "_progress/", ".export_log.jsonl")


def _png(seed: int) -> bytes:
    from PIL import Image

    image = Image.new("RGB", (16, 12), (seed * 37 % 256, seed * 11 % 256, 200 - seed % 200))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@contextmanager
def image_server() -> Iterator[str]:
    """Serves a small PNG for any path (50 distinct images), on a free loopback port."""
    images = [_png(seed) for seed in range(50)]

    with serving_bodies(
        lambda path: images[int(hashlib.md5(path.encode()).hexdigest(), 16) % len(images)], "image/png"
    ) as base:
        yield base


def finished_job(emulator: EmulatorHandle, images: str, count: int) -> tuple[str, dict[str, list[str]]]:
    """A finished image-stats job over ``count`` images: its id and its output batches by stage."""
    from include.devstack.task_context import make_context
    from include.roboflow_batch.api.client import RoboflowClient
    from include.roboflow_batch.operators.start_job import RoboflowStartJobOperator

    batch_id = f"bench-{uuid.uuid4().hex[:10]}"
    client = RoboflowClient(emulator.base_url, emulator.api_key, workspace=emulator.workspace)
    with client:
        for start in range(0, count, CHUNK):
            references = [
                {"name": f"cam__{n:06d}.png", "url": f"{images}/cam/{n:06d}.png?sig=x"}
                for n in range(start, min(start + CHUNK, count))
            ]
            client.ingest_image_references(batch_id, ingest_id=f"{batch_id}-{start}", references=references)
        deadline = time.monotonic() + 1800
        while True:  # every shard indexed (a fetch that timed out on a busy machine is a failed file)
            shards = list(client.iter_shards(batch_id))
            if len(shards) >= -(-count // CHUNK) and all(s.status_type != "info" for s in shards):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"batch {batch_id} was not indexed in time")
            time.sleep(1.0)
    outcome = RoboflowStartJobOperator(
        task_id="start_job",
        batch_id=batch_id,
        workflow_id="image-stats",
        persist_images_outputs=True,
        job_id=f"b{uuid.uuid4().hex[:10]}",
        wait_for_completion=True,
        deferrable=False,
        poll_interval=1.0,
        timeout=3600,
    ).execute(make_context())
    return str(outcome["job_id"]), outcome["output_batches"]


def digests(folder: Path) -> Counter[str]:
    found: Counter[str] = Counter()
    for path in folder.rglob("*"):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and not any(relative.startswith(p) or path.name == p for p in OWN_FILES):
            found[hashlib.sha256(path.read_bytes()).hexdigest()] += 1
    return found


def run_cli(cli: Any, batch_id: str, target: Path) -> float:
    reply = cli.run("data-staging", "export-batch", "-b", batch_id, "-t", target, timeout=1800)
    return float(reply.duration)


def run_ours(job_id: str, stage: str, target: Path, count: int, processes: int | None) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of this process and of the extraction workers it started."""
    from include.devstack.task_context import make_context
    from include.roboflow_batch.operators.export import RoboflowExportOperator

    before = os.times()
    started = time.perf_counter()
    summary = RoboflowExportOperator(
        task_id="export",
        job_id=job_id,
        stage=stage,
        destination=f"file://{target}",
        expected_count=count,
        on_mismatch="warn",
        transfer_processes=processes,
    ).execute(make_context())
    elapsed = time.perf_counter() - started
    after = os.times()
    if not summary["reconciled"]:
        raise RuntimeError(f"export of {job_id}/{stage} did not reconcile: {summary}")
    cpu = sum(after[:4]) - sum(before[:4])  # user + system, own and reaped children
    return elapsed, cpu


def measure(cli: Any, job_id: str, batch_id: str, stage: str, count: int, workdir: Path) -> dict[str, Any]:
    contenders = ["cli", "ours", "threads"]
    times: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    loads: list[float] = []
    same_content = True
    for repeat in range(REPEATS[stage]):
        order = contenders if repeat % 2 == 0 else contenders[::-1]
        targets = {name: workdir / f"{stage}-{count}-{repeat}-{name}" for name in order}
        for name in order:
            # Every contender starts with the page cache flushed: the previous run's writes and
            # deletions are not left for it to pay.
            os.sync()
            loads.append(os.getloadavg()[0])
            if name == "cli":
                times[name].append(run_cli(cli, batch_id, targets[name]))
            else:
                processes = 0 if name == "threads" else None
                elapsed, used = run_ours(job_id, stage, targets[name], count, processes)
                times[name].append(elapsed)
                cpu[name].append(used)
        theirs = digests(targets["cli"])
        for name in contenders[1:]:
            ours = digests(targets[name])
            same_content = same_content and ours == theirs and sum(ours.values()) > 0
        files = sum(theirs.values())
        for target in targets.values():
            shutil.rmtree(target, ignore_errors=True)
    return {
        "cli": statistics.median(times["cli"]),
        "ours": statistics.median(times["ours"]),
        "same": same_content,
        "files": files,
        "load": f"{min(loads):.1f}-{max(loads):.1f}",
        "filesystem": filesystem_of(workdir),
        "cli_runs": times["cli"],
        "our_runs": times["ours"],
        "our_cpu": cpu["ours"],
        "threads_runs": times["threads"],
        "threads_cpu": cpu["threads"],
    }


def processes_vs_threads(kind: str, count: int, m: dict[str, Any]) -> dict[str, Any]:
    threads = statistics.median(m["threads_runs"])
    return result(
        "export_worker_processes",
        f"export, {kind}, {count:,} images: s with worker processes, one per core (lower is better)",
        m["ours"],
        "s",
        baseline=threads,
        baseline_name="everything on the exporting process's threads (transfer_processes=0)",
        ratio=threads / m["ours"],
        detail=(
            f"runs processes {[round(t, 2) for t in m['our_runs']]} (CPU s "
            f"{[round(t, 2) for t in m['our_cpu']]}), threads {[round(t, 2) for t in m['threads_runs']]} "
            f"(CPU s {[round(t, 2) for t in m['threads_cpu']]}); "
            f"1-min load {m['load']} on {os.cpu_count()} cores; written to {m['filesystem']}"
        ),
    )


def filesystem_of(path: Path) -> str:
    """The type of the filesystem holding ``path`` (from /proc/mounts): file creation costs differ a lot."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "unknown filesystem"
    resolved = str(path.resolve())
    inside = [
        (point, kind)
        for point, kind in mounts
        if resolved == point or resolved.startswith(point.rstrip("/") + "/")
    ]
    return max(inside, key=lambda mount: len(mount[0]))[1] if inside else "unknown filesystem"


def compare(cli: Any, emulator: EmulatorHandle, images: str, workdir: Path) -> list[dict[str, Any]]:
    """Every size and kind of batch, ours against the CLI; then how our time grows with the size."""
    rows: list[dict[str, Any]] = []
    measured: dict[tuple[str, int], dict[str, Any]] = {}
    for count in SIZES:
        job_id, outputs = finished_job(emulator, images, count)
        for stage, kind in STAGES.items():
            (batch_id,) = outputs[stage]
            m = measure(cli, job_id, batch_id, stage, count, workdir)
            measured[(stage, count)] = m
            rows.append(
                result(
                    "export_vs_cli",
                    f"export, {kind}, {count:,} images ({m['files']:,} files): s (lower is better)",
                    m["ours"],
                    "s",
                    baseline=m["cli"],
                    baseline_name="inference-cli export-batch",
                    ratio=m["cli"] / m["ours"],
                    target=">= 2x faster",
                    met=m["cli"] / m["ours"] >= 2 and m["same"],
                    detail=(
                        f"runs ours {[round(t, 2) for t in m['our_runs']]} (CPU s "
                        f"{[round(t, 2) for t in m['our_cpu']]}), CLI "
                        f"{[round(t, 2) for t in m['cli_runs']]}; same sha256 content: {m['same']}; "
                        f"1-min load {m['load']} on {os.cpu_count()} cores; "
                        f"written to {m['filesystem']}"
                    ),
                )
            )
            rows.append(processes_vs_threads(kind, count, m))
    small, large = min(SIZES), max(SIZES)
    if small != large:
        for stage, kind in STAGES.items():
            growth = measured[(stage, large)]["ours"] / measured[(stage, small)]["ours"]
            rows.append(
                result(
                    "export_scaling",
                    f"export, {kind}: time at {large:,} / time at {small:,} images",
                    growth,
                    "x",
                    ratio=growth,
                    target=f"<= {1.1 * large / small:.1f}x",
                    met=growth <= 1.1 * large / small,
                    detail=f"linear would be {large / small:.1f}x",
                )
            )
    return rows


def run() -> list[dict[str, Any]]:
    from bench.bench_references import environment
    from include.devstack.connections import roboflow_connection
    from include.devstack.official_cli import InferenceCli, start_forkserver

    workdir = Path(tempfile.mkdtemp(prefix="bench-export-"))
    service = start_roboflow_emulator(
        extra_args=["--ingest-delay", "0", "--stage-delay", "0", "--fetch-timeout", "60"]
    )
    forkserver = start_forkserver(workdir)
    try:
        with running(service), image_server() as images:
            emulator = EmulatorHandle(service)
            connection = json.dumps(
                roboflow_connection(emulator.base_url, emulator.api_key, emulator.workspace)
            )
            cli = InferenceCli(emulator.base_url, emulator.api_key, forkserver=forkserver)
            with environment(AIRFLOW_CONN_ROBOFLOW_DEFAULT=connection):
                return compare(cli, emulator, images, workdir)
    finally:
        forkserver.stop()
        shutil.rmtree(workdir, ignore_errors=True)
