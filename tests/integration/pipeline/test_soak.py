"""Soak: eight intervals of one pipeline through ~30 % faulted API calls, an aborted job and a changed
definition. Bounded (a few minutes on 2 cores) and seeded (images, fault injector).

It checks what a user relies on: every object of every window is in exactly one manifest entry, no
window's results are overwritten, an interval never has two live jobs, and every interval finishes
(after the re-run a user makes of an interval whose job was aborted or failed).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from include.devstack.sample_media import sample_images, write_files
from include.roboflow_batch.api.client import RoboflowClient
from include.roboflow_batch.jobs.recovery import MAX_ATTEMPTS, attempt_job_id
from include.roboflow_emulator.testing import EmulatorHandle
from tests.integration.pipeline.conftest import PipelineRun, emulator_with
from tests.integration.pipeline.file_clock import whole_second_boundary

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

SEED = 20261130
INTERVALS = 8
IMAGES_PER_WINDOW = 3
FAULT_RATE = 0.3
FAULT_STATUSES = [429, 500, 502, 503]
ABORTED_INTERVAL = 2
CHANGED_INTERVAL = 5


@dataclass
class LiveJobMonitor:
    """Samples the emulator's jobs (through its never-faulted state endpoint) while the soak runs."""

    emulator: EmulatorHandle
    samples: list[set[str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            jobs = self.emulator.state()["jobs"]
            self.samples.append({job_id for job_id, job in jobs.items() if not job["isTerminal"]})
            time.sleep(0.1)

    def most_live_per_interval(self, bases: list[str]) -> int:
        family = {attempt_job_id(base, n): base for base in bases for n in range(1, MAX_ATTEMPTS + 1)}
        most = 0
        for live in self.samples:
            per_interval = Counter(family.get(job_id, job_id) for job_id in live)
            most = max([most, *per_interval.values()])
        return most


@pytest.fixture
def faulty_emulator(monkeypatch: pytest.MonkeyPatch, stand_in_connections: None) -> Iterator[EmulatorHandle]:
    yield from emulator_with(
        monkeypatch, "--ingest-delay", "0.3", "--stage-delay", "1.5", "--seed", str(SEED)
    )


def write_windows(drop: Path, scratch: Path) -> list[tuple[datetime, datetime, list[str]]]:
    """Eight consecutive whole-second windows (ids and folders name windows by the second), each
    holding the images written inside it and nothing else; the filesystem clock draws the lines."""
    windows = []
    start = whole_second_boundary(scratch)
    for index in range(INTERVALS):
        images = sample_images(IMAGES_PER_WINDOW, prefix=f"w{index}", seed=SEED + index)
        write_files(drop, images)
        end = whole_second_boundary(scratch)
        windows.append((start, end, sorted(image.name for image in images)))
        start = end
    return windows


def pipeline(drop: Path, out: Path, workflow: str, max_parallel_tasks: int) -> dict[str, Any]:
    return {
        "id": "soak",
        "source": {"kind": "local", "directory": str(drop), "media": "images"},
        "workflow": {"id": workflow},
        "job": {
            "poke_interval": "1s",
            "wait_timeout": "5m",
            "aggregation_format": "jsonl",
            "max_parallel_tasks": max_parallel_tasks,
        },
        "retries": 3,
        "export": {"destination": str(out / "{pipeline}" / "{interval_start:%Y%m%dT%H%M%S}") + "/"},
    }


def manifest_entries(manifest: dict[str, Any]) -> list[str]:
    """Source name of each per-object entry of a manifest: processed, failed at ingest, failed in the
    job, or skipped while listing (``objects`` when the manifest lists them in one place)."""
    if isinstance(manifest.get("objects"), list):
        return [entry.get("name") or entry["source_key"] for entry in manifest["objects"]]
    entries = [source["name"] for source in manifest["sources"]]
    for section in ("failed", "processing_failed", "skipped"):
        # Failed entries name the object by "file_name", skipped ones (from the listing) by "key".
        files = (manifest.get(section) or {}).get("files", [])
        entries += [entry.get("file_name") or entry["key"] for entry in files]
    return entries


def abort_when_created(emulator: EmulatorHandle, known: set[str]) -> threading.Thread:
    """Abort the next job the emulator creates, as a user would from the Roboflow app.

    The user's click is not under test: faults pause for it, or a faulted abort retried past the
    job's processing stage (the only stage a job can be aborted in) would leave nothing aborted.
    """

    def abort() -> None:
        client = RoboflowClient(emulator.base_url, "test-api-key", workspace="demo-workspace", max_retries=8)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            new = set(emulator.state()["jobCreations"]) - known
            if new:
                emulator.set_faults(rate=0.0)
                try:
                    client.abort_job(new.pop())
                finally:
                    emulator.set_faults(rate=FAULT_RATE, statuses=FAULT_STATUSES, seed=SEED)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=abort, daemon=True)
    thread.start()
    return thread


def result_digests(folder: Path) -> dict[str, str]:
    """sha256 of every result file of a window (the manifest is rewritten by design on a re-run)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "manifest.json"
    }


def test_soak_eight_intervals_with_faults_an_abort_and_a_changed_definition(
    run_pipeline: Callable[..., PipelineRun], faulty_emulator: EmulatorHandle, tmp_path: Path
) -> None:
    drop, out = tmp_path / "drop", tmp_path / "results"
    windows = write_windows(drop, tmp_path / "clock")
    faulty_emulator.set_faults(rate=FAULT_RATE, statuses=FAULT_STATUSES, seed=SEED)
    monitor = LiveJobMonitor(faulty_emulator)
    sampler = threading.Thread(target=monitor.run, daemon=True)
    sampler.start()
    started = time.monotonic()

    finished: dict[int, PipelineRun] = {}
    digests: dict[int, dict[str, str]] = {}
    runs = 0
    for index, (start, end, _names) in enumerate(windows):
        changed = index >= CHANGED_INTERVAL
        conf = {"window_start": start.isoformat(), "window_end": end.isoformat()}
        logical_date = end
        # Before the change the pipeline runs a workflow id that does not exist: that interval's job
        # fails, the definition is fixed, and the re-run must start the interval's second attempt.
        workflow = "no-such-workflow" if index == CHANGED_INTERVAL else "bright-spot-detector"
        spec = pipeline(drop, out, workflow, max_parallel_tasks=4 if changed else 2)
        aborter = None
        if index == ABORTED_INTERVAL:
            aborter = abort_when_created(faulty_emulator, set(faulty_emulator.state()["jobCreations"]))
        run = run_pipeline(spec, logical_date, conf=conf)
        runs += 1
        if aborter is not None:
            aborter.join(timeout=30)
        if index in (ABORTED_INTERVAL, CHANGED_INTERVAL):
            assert run.state == "failed", (index, run.tasks)
            spec = pipeline(drop, out, "bright-spot-detector", max_parallel_tasks=4 if changed else 2)
            run = run_pipeline(spec, logical_date, conf=conf)  # the user re-runs the interval
            runs += 1
        assert run.state == "success", (index, run.tasks)
        finished[index] = run
        digests[index] = result_digests(run.destination)

    # A re-run of an interval that finished long ago, after the change: re-attached, nothing rewritten.
    start, end, _names = windows[0]
    rerun = run_pipeline(
        pipeline(drop, out, "bright-spot-detector", max_parallel_tasks=4),
        end,
        conf={"window_start": start.isoformat(), "window_end": end.isoformat()},
    )
    runs += 1
    elapsed = time.monotonic() - started
    monitor.stop.set()
    sampler.join(timeout=5)
    state = faulty_emulator.state()
    faulty_emulator.clear_faults()

    assert rerun.state == "success", rerun.tasks
    assert rerun.value("start_job")["job_id"] == finished[0].value("start_job")["job_id"]
    # Every interval finished, each into its own folder, with one manifest entry per object.
    destinations = {run.destination for run in finished.values()}
    assert len(destinations) == INTERVALS
    for index, (_start, _end, names) in enumerate(windows):
        manifest = finished[index].manifest
        entries = manifest_entries(manifest)
        assert Counter(entries) == Counter(names), (index, entries)
        assert manifest["reconciled"] is True
    # No window's results were overwritten by a later window or by the re-run.
    for index, run in finished.items():
        assert result_digests(run.destination) == digests[index], index
    # Never two live jobs for one interval; no job created twice; the recoveries are on record.
    bases = [run.value("plan")["job_id"] for run in finished.values()]
    assert monitor.samples, "the live-job monitor took no sample"
    assert monitor.most_live_per_interval(bases) == 1
    assert set(state["jobCreations"].values()) == {1}
    aborted = finished[ABORTED_INTERVAL].manifest["job_history"]
    assert [event["action"] for event in aborted] == ["restart"]
    changed = finished[CHANGED_INTERVAL].manifest["job_history"]
    assert [(event["action"], event["attempt"]) for event in changed] == [("create", 2)]
    assert [job["state"] for job in changed[0]["seen"]] == ["failed or aborted"]  # attempt 1
    assert len(state["jobCreations"]) == INTERVALS + 1  # one per interval, plus the changed one's attempt 2
    faults = sum(state["faultsInjected"].values())
    requests = sum(state["requests"].values())
    print(
        f"\nSoak: {INTERVALS} intervals, {runs} runs in {elapsed:.0f}s; {faults} of {requests} API requests "
        f"faulted ({faults / requests:.0%}); jobs created {len(state['jobCreations'])}, restarts "
        f"{sum(job['restarts'] for job in state['jobs'].values())}; most live jobs per interval "
        f"{monitor.most_live_per_interval(bases)}; {monitor.samples.__len__()} samples"
    )
