"""Batch Processing jobs: creation (idempotent per id), the `processing` and `export` stages with
tasks and progress, logs, abort and restart, and the completion webhook.

Each job run is a background thread tagged with the job's `generation`; abort, restart and reset
bump the generation so an outdated run stops at its next check and never writes again.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from include.roboflow_emulator.errors import ApiError, bad_request, conflict, not_found
from include.roboflow_emulator.ingest import IngestService
from include.roboflow_emulator.job_specs import (
    IMAGE_JOB,
    TRT_JOB,
    effective_settings,
    validate_job_definition,
    validate_job_id,
    validate_restart_overrides,
)
from include.roboflow_emulator.machines import MachineModel, timeout_share
from include.roboflow_emulator.outputs import add_output_file, create_output_batch, results_file, tar_gz
from include.roboflow_emulator.state import (
    MULTIPART_BATCH,
    Batch,
    BatchPart,
    Job,
    Stage,
    StoredFile,
    Task,
)
from include.roboflow_emulator.switches import CREDITS_MESSAGE
from include.roboflow_emulator.timestamps import utc_now
from include.roboflow_emulator.workflows import FileProcessingError, Workflow, WorkflowError, resolve_workflow

log = logging.getLogger(__name__)

JOB_EVENT = "roboflow-batch-job-notification-v1"
# How often a job waiting for its machines checks whether it was aborted meanwhile.
START_LATENCY_CHECK_SECONDS = 0.05
DEFAULT_MAX_FAILED_FILES_PER_SHARD = 10  # the service's default when maxImageFailureRate is unset
DEFAULT_PARALLEL_TASKS = 4
RESULTS_PART = "results"
IMAGES_PART = "image-outputs"
RESULTS_ARCHIVES_PART = "results-archives"
IMAGES_ARCHIVES_PART = "image-outputs-archives"


class _Superseded(Exception):
    """The run was aborted, restarted or reset: stop without touching the job."""


@dataclass
class _TaskOutcome:
    ok: bool
    message: str
    results_file: str | None = None
    image_files: list[str] = field(default_factory=list)
    timed_out: bool = False


class JobService:
    """Batch Processing: jobs, their stages and tasks, run over the batches that ``ingest`` stages."""

    def __init__(self, ingest: IngestService) -> None:
        self.ingest = ingest
        # Jobs read and write the same world as the staging side: one store, configuration, webhook
        # sender and set of switches.
        self.store, self.config, self.webhooks = ingest.store, ingest.config, ingest.webhooks
        self.switches = ingest.switches
        config = self.config
        self.machines = MachineModel(config.seconds_per_image, config.task_start_seconds, config.gpu_speedup)

    # ---- API operations ---------------------------------------------------------------

    def get_job(self, job_id: str) -> Job:
        with self.store.lock:
            job = self.store.jobs.get(job_id)
        if job is None:
            raise not_found(f"Job {job_id!r} not found in workspace {self.config.workspace!r}.")
        return job

    def create_job(self, job_id: str, body: Any, name: str | None) -> dict[str, Any]:
        validate_job_id(job_id)
        validate_job_definition(body, self.config.workspace)
        if self.switches.current.credits_exhausted:
            # Before the duplicate check: a repeat of a creation that went through meets it too.
            raise ApiError(429, CREDITS_MESSAGE)
        with self.store.lock:
            existing = self.store.jobs.get(job_id)
            if existing is not None:
                if existing.definition == body:
                    return {"status": "ok", "jobId": job_id, "duplicated": True}
                raise conflict(
                    f"Job {job_id!r} already exists with a different definition; choose another jobId."
                )
            if body["type"] != TRT_JOB:
                self._check_input(body)
            planned = ["compilation"] if body["type"] == TRT_JOB else ["processing", "export"]
            job = Job(
                job_id=job_id,
                name=name or job_id,
                definition=body,
                planned_stages=planned,
                created=self.store.clock.now(),
            )
            job.log("info", "job-created", {"message": f"Job {job_id} accepted.", "plannedStages": planned})
            self.store.jobs[job_id] = job
            self.store.job_creations[job_id] += 1
            generation = job.generation
        self._start(job, generation)
        return {"status": "ok", "jobId": job_id, "duplicated": False}

    def _check_input(self, body: dict[str, Any]) -> None:
        job_input = body["jobInput"]
        batch = self.ingest.get_batch(job_input["batchId"])
        wanted = "images" if body["type"] == IMAGE_JOB else "videos"
        part_name = job_input.get("partName")
        if part_name is not None:
            content_type = self._input_part(batch, "partName", part_name).content_type
            holder = f"Part {part_name!r} of batch {batch.batch_id!r}"
        else:
            content_type = batch.content_type
            holder = f"Batch {batch.batch_id!r}"
        if content_type != wanted:
            raise bad_request(f"{holder} holds {content_type}, but a {body['type']} job needs {wanted}.")
        metadata_part = job_input.get("imagesMetadataPart")
        if metadata_part is not None:
            # Per-image metadata lives beside the images, in another part of the same multipart batch.
            self._input_part(batch, "imagesMetadataPart", metadata_part)

    @staticmethod
    def _input_part(batch: Batch, field_name: str, part_name: str) -> BatchPart:
        if batch.batch_type != MULTIPART_BATCH:
            raise bad_request(
                f"jobInput.{field_name} given, but batch {batch.batch_id!r} is a {batch.batch_type}, "
                "not a multipart-batch."
            )
        part = batch.parts.get(part_name)
        if part is None:
            raise bad_request(
                f"jobInput.{field_name} {part_name!r} is not a part of batch {batch.batch_id!r}; "
                f"parts: {sorted(batch.parts)}."
            )
        return part

    def abort(self, job_id: str) -> dict[str, Any]:
        with self.store.lock:
            job = self.get_job(job_id)
            if job.is_terminal:
                raise conflict(f"Job {job_id!r} has already finished; there is nothing to abort.")
            if job.current_stage not in (None, "processing", "compilation"):
                raise bad_request(
                    f"Job {job_id!r} is in its {job.current_stage!r} stage; a job can be aborted only "
                    "while it is in the processing stage."
                )
            job.generation += 1
            for stage in job.stages.values():
                for task in stage.tasks:
                    if task.status_type == "info":
                        # A null progress reads as "waiting" in the client; an aborted task is done.
                        self._set_task(task, "error", "Aborted by the user.", task.progress or 0.0)
                if stage.status_type == "info":
                    stage.status_type, stage.message, stage.last_event = (
                        "error",
                        "Aborted by the user.",
                        utc_now(),
                    )
            self._terminate(job, error=True, kind="job-aborted", message="Job aborted by the user.")
        return {"status": "ok", "jobId": job_id, "message": "Job aborted."}

    def restart(self, job_id: str, body: Any) -> dict[str, Any]:
        overrides = validate_restart_overrides(body)
        with self.store.lock:
            job = self.get_job(job_id)
            if not job.is_terminal:
                raise conflict(
                    f"Job {job_id!r} is still running; only aborted or failed jobs can be restarted."
                )
            if not job.error:
                raise conflict(f"Job {job_id!r} succeeded; only aborted or failed jobs can be restarted.")
            if job.definition["type"] != TRT_JOB:
                self._check_input(job.definition)
            if overrides is not None:
                job.overrides.append(overrides)
            job.generation += 1
            job.restarts += 1
            job.is_terminal, job.error, job.current_stage = False, False, None
            job.stages.clear()
            job.last_notification = {"type": "job-restarted", "message": "Job restarted."}
            job.log("info", "job-restarted", {"message": "Job restarted.", "overrides": overrides or {}})
            generation = job.generation
        self._start(job, generation)
        return {"status": "ok", "jobId": job_id, "message": "Job restarted."}

    # ---- the run -------------------------------------------------------------------------

    def _start(self, job: Job, generation: int) -> None:
        latency = self._queue(job)
        threading.Thread(
            target=self._run, args=(job, generation, latency), name=f"job-{job.job_id}", daemon=True
        ).start()

    def _guard(self, job: Job, generation: int) -> None:
        if job.generation != generation:
            raise _Superseded

    def _queue(self, job: Job) -> float:
        """The job's start latency (switch ``jobStartLatencySeconds``), announced before it answers."""
        latency = self.switches.current.job_start_latency
        if latency:
            with self.store.lock:
                job.last_notification = {
                    "type": "job-queued",
                    "message": f"Waiting for machines: the job starts in about {latency:g} s.",
                }
                job.log("info", "job-queued", {"message": job.last_notification["message"]})
        return latency

    def _wait_for_machines(self, job: Job, generation: int, latency: float) -> None:
        """No stage yet while the machines start; an abort or restart meanwhile ends the wait."""
        deadline = time.monotonic() + latency
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, START_LATENCY_CHECK_SECONDS))
            with self.store.lock:
                self._guard(job, generation)

    def _run(self, job: Job, generation: int, latency: float) -> None:
        try:
            self._wait_for_machines(job, generation, latency)
            if job.definition["type"] == TRT_JOB:
                self._compilation_stage(job, generation)
                self._finish(job, generation, ok=True, outputs=[])
                return
            ok, processed = self._processing_stage(job, generation)
            if not ok:
                self._finish(job, generation, ok=False, outputs=[])
                return
            export_ok = self._export_stage(job, generation, processed)
            self._finish(job, generation, ok=export_ok, outputs=[f"{job.job_id}-export"])
        except _Superseded:
            return
        except Exception as exc:  # a bug must not leave a job running forever
            with self.store.lock:
                if job.generation != generation or job.is_terminal:
                    return  # aborted, restarted or reset while this run was failing
                log.exception("Job %s failed inside the emulator", job.job_id)
                job.log("error", "internal-error", {"message": f"{type(exc).__name__}: {exc}"})
                self._terminate(job, error=True, kind="job-failed", message=f"Internal error: {exc}")

    def _open_stage(self, job: Job, generation: int, stage_id: str, tasks: int, outputs: list[str]) -> Stage:
        with self.store.lock:
            self._guard(job, generation)
            stage = Stage(stage_id, [Task(f"{stage_id}-{i:05d}") for i in range(tasks)], outputs)
            job.stages[stage_id] = stage
            job.current_stage = stage_id
            job.last_notification = {"type": "job-stage-started", "message": f"Stage {stage_id} started."}
            job.log(
                "info",
                "stage-started",
                {"message": f"Stage {stage_id} started.", "tasks": tasks},
                stage_id=stage_id,
            )
        return stage

    def _close_stage(
        self, job: Job, generation: int, stage: Stage, started: float, keep_message: bool = False
    ) -> bool:
        self.config.wait_out("stage_delay", started)
        with self.store.lock:
            self._guard(job, generation)
            failed = sum(1 for t in stage.tasks if t.status_type != "success")
            ok = failed == 0
            stage.status_type = "success" if ok else "error"
            if not keep_message:
                stage.message = (
                    f"All {len(stage.tasks)} tasks succeeded."
                    if ok
                    else f"{failed} of {len(stage.tasks)} tasks failed."
                )
            stage.last_event = utc_now()
            job.log(
                "info" if ok else "error",
                "stage-finished",
                {"message": f"Stage {stage.stage_id}: {stage.message}"},
                stage_id=stage.stage_id,
            )
        return ok

    def _set_task(self, task: Task, status: str, message: str, progress: float | None) -> None:
        task.status_type = status
        task.message = message
        task.progress = progress
        task.event_timestamp = utc_now()

    def _units(self, job: Job) -> list[list[StoredFile]]:
        """The task inputs: one per input shard (at most `shard_size` images) or one per video."""
        job_input = job.definition["jobInput"]
        with self.store.lock:
            batch = self.ingest.get_batch(job_input["batchId"])
            files = batch.sorted_files(job_input.get("partName"))
        if job.definition["type"] != IMAGE_JOB:
            return [[f] for f in files]
        groups: dict[str, list[StoredFile]] = {}
        for stored in files:
            groups.setdefault(stored.shard_id or "", []).append(stored)
        size = max(1, min(self.config.shard_size, self.machines.images_per_task))
        return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]

    def _processing_stage(self, job: Job, generation: int) -> tuple[bool, list[_TaskOutcome]]:
        started = time.monotonic()
        definition = job.definition
        spec = definition["processingSpecification"]
        settings = effective_settings(definition, job.overrides)
        input_error: str | None
        try:
            units = self._units(job)
        except ApiError as exc:
            units, input_error = [[]], exc.message
        else:
            input_error = (
                None if units else f"Input batch {definition['jobInput']['batchId']!r} has no files."
            )
            units = units or [[]]
        try:
            workflow: Workflow | None = resolve_workflow(
                spec["workflowId"],
                spec.get("workflowParameters"),
                spec.get("imageInputName"),
                bool(spec.get("persistImagesOutputs")),
                spec.get("imagesOutputsToBePersisted"),
            )
        except WorkflowError as exc:
            workflow, input_error = None, input_error or str(exc)
        output_id = f"{job.job_id}-processing"
        stage = self._open_stage(job, generation, "processing", len(units), [output_id])
        persist = workflow is not None and bool(workflow.persist)
        parts = [BatchPart(RESULTS_PART, "sharded-batch", "metadata", "Workflow results per shard.")]
        if persist:
            parts.append(
                BatchPart(IMAGES_PART, "sharded-batch", "images", "Persisted workflow image outputs.")
            )
        output = create_output_batch(
            self.store, output_id, "mixed" if persist else "metadata", parts, self.config.retention_seconds
        )
        if input_error is not None or workflow is None:
            message = input_error or "Workflow could not be resolved."
            with self.store.lock:
                self._guard(job, generation)
                for task in stage.tasks:
                    self._set_task(task, "error", message, 0.0)  # finished, not waiting
                    job.log(
                        "error",
                        "task-failed",
                        {"message": message},
                        stage_id="processing",
                        task_id=task.task_id,
                    )
            return self._close_stage(job, generation, stage, started), []
        timeout = settings["processingTimeoutSeconds"]
        budget = timeout_share(timeout, len(units))
        parallel = settings["maxParallelTasks"] or DEFAULT_PARALLEL_TASKS

        def run(index: int) -> _TaskOutcome:
            return self._processing_task(
                job, generation, stage.tasks[index], units[index], workflow, settings, budget, output
            )

        with ThreadPoolExecutor(max_workers=min(parallel, len(units)), thread_name_prefix="task") as pool:
            outcomes = list(pool.map(run, range(len(units))))
        timed_out = sum(1 for outcome in outcomes if outcome.timed_out)
        if timed_out:
            with self.store.lock:
                self._guard(job, generation)
                message = (
                    f"Stopped by processingTimeoutSeconds={timeout}: {timed_out} of {len(units)} tasks "
                    f"used up their share ({budget:.2f}s each) and were stopped."
                )
                stage.message = message
                job.log("error", "processing-timeout", {"message": message}, stage_id="processing")
        return self._close_stage(job, generation, stage, started, keep_message=bool(timed_out)), outcomes

    def _processing_task(
        self,
        job: Job,
        generation: int,
        task: Task,
        files: list[StoredFile],
        workflow: Workflow,
        settings: dict[str, Any],
        budget: float | None,
        output: Batch,
    ) -> _TaskOutcome:
        spec = job.definition["processingSpecification"]
        fmt = spec.get("aggregationFormat") or "jsonl"
        max_fps = spec.get("maxVideoFPS")
        machine = settings["computeConfiguration"].get("machineType")
        where = {"stage_id": "processing", "task_id": task.task_id}
        with self.store.lock:
            self._guard(job, generation)
            self._set_task(task, "info", "Processing.", 0.0)
            job.log("info", "task-started", {"message": "Task started.", "files": len(files)}, **where)
        started = time.monotonic()

        def spend(seconds: float, done: int) -> _TaskOutcome | None:
            """Run the machine for ``seconds``, or up to the task's share of the ceiling and stop."""
            if budget is not None and time.monotonic() - started + seconds > budget:
                time.sleep(max(0.0, started + budget - time.monotonic()))
                return self._task_timeout(job, generation, task, settings, budget, done, len(files))
            if seconds:
                time.sleep(seconds)
            return None

        stopped = spend(self.machines.start_seconds(machine), 0)
        if stopped is not None:
            return stopped
        rows: list[dict[str, Any]] = []
        images: list[tuple[str, str, bytes]] = []
        failures = 0
        for number, stored in enumerate(files, start=1):
            frames: int | None = None
            try:
                if stored.content_type == "videos":
                    result = workflow.process_video(stored.file_name, stored.content, max_fps)
                    frames = len(result.rows)
                else:
                    result = workflow.process_image(stored.file_name, stored.content)
                rows.extend(result.rows)
                images.extend(result.image_outputs)
            except FileProcessingError as exc:
                failures += 1
                with self.store.lock:
                    self._guard(job, generation)
                    job.log(
                        "warning", "file-failed", {"message": str(exc), "fileName": stored.file_name}, **where
                    )
            stopped = spend(self.machines.file_seconds(stored.content, frames, machine), number - 1)
            if stopped is None and budget is not None and time.monotonic() - started > budget:
                stopped = self._task_timeout(job, generation, task, settings, budget, number, len(files))
            if stopped is not None:
                return stopped
            with self.store.lock:
                self._guard(job, generation)
                task.progress, task.event_timestamp = number / len(files), utc_now()
        limit = settings["maxImageFailureRate"]
        too_many = (
            failures / len(files) > limit
            if limit is not None
            else failures > DEFAULT_MAX_FAILED_FILES_PER_SHARD
        )
        if too_many:
            message = f"{failures} of {len(files)} files failed, above the allowed " + (
                f"maxImageFailureRate {limit}."
                if limit is not None
                else f"{DEFAULT_MAX_FAILED_FILES_PER_SHARD} files."
            )
            with self.store.lock:
                self._guard(job, generation)
                self._set_task(task, "error", message, 1.0)
                job.log("error", "task-failed", {"message": message}, **where)
            return _TaskOutcome(False, message)
        index = task.task_id.rsplit("-", 1)[1]
        results_name = f"results-{index}.{fmt}"
        with self.store.lock:
            self._guard(job, generation)
        add_output_file(self.store, output, RESULTS_PART, results_name, results_file(rows, fmt), task.task_id)
        for _, file_name, content in images:
            add_output_file(self.store, output, IMAGES_PART, file_name, content, task.task_id)
        message = f"Processed {len(files) - failures} of {len(files)} files."
        with self.store.lock:
            self._guard(job, generation)
            self._set_task(task, "success", message, 1.0)
            job.log("info", "task-finished", {"message": message}, **where)
        return _TaskOutcome(True, message, results_name, [name for _, name, _ in images])

    def _task_timeout(
        self,
        job: Job,
        generation: int,
        task: Task,
        settings: dict[str, Any],
        share: float,
        done: int,
        total: int,
    ) -> _TaskOutcome:
        """Stop a task that used up its share of ``processingTimeoutSeconds``: it fails, its files
        unprocessed."""
        message = (
            f"Task exceeded its processing time share of {share:.2f}s "
            f"(processingTimeoutSeconds={settings['processingTimeoutSeconds']} over "
            f"{len(job.stages['processing'].tasks)} tasks) after {done} of {total} files."
        )
        with self.store.lock:
            self._guard(job, generation)
            self._set_task(task, "error", message, done / total if total else 0.0)
            job.log(
                "error", "task-timeout", {"message": message}, stage_id="processing", task_id=task.task_id
            )
        return _TaskOutcome(False, message, timed_out=True)

    def _export_stage(self, job: Job, generation: int, processed: list[_TaskOutcome]) -> bool:
        started = time.monotonic()
        source_id, output_id = f"{job.job_id}-processing", f"{job.job_id}-export"
        stage = self._open_stage(job, generation, "export", len(processed), [output_id])
        persist = any(o.image_files for o in processed)
        parts = [
            BatchPart(
                RESULTS_ARCHIVES_PART, "sharded-batch", "archives", "Archived workflow results.", "metadata"
            )
        ]
        if persist:
            parts.append(
                BatchPart(
                    IMAGES_ARCHIVES_PART, "sharded-batch", "archives", "Archived image outputs.", "images"
                )
            )
        output = create_output_batch(self.store, output_id, "archives", parts, self.config.retention_seconds)
        source = self.ingest.get_batch(source_id)
        for task, outcome in zip(stage.tasks, processed, strict=True):
            with self.store.lock:
                self._guard(job, generation)
                self._set_task(task, "info", "Archiving.", 0.0)
                job.log("info", "task-started", {"message": "Task started."}, "export", task.task_id)
                results = source.files[(RESULTS_PART, outcome.results_file or "")]
                image_members = [(n, source.files[(IMAGES_PART, n)].content) for n in outcome.image_files]
            index = task.task_id.rsplit("-", 1)[1]
            add_output_file(
                self.store,
                output,
                RESULTS_ARCHIVES_PART,
                f"results-{index}.tar.gz",
                tar_gz([(results.file_name, results.content)]),
                task.task_id,
            )
            if image_members:
                add_output_file(
                    self.store,
                    output,
                    IMAGES_ARCHIVES_PART,
                    f"images-{index}.tar.gz",
                    tar_gz(image_members),
                    task.task_id,
                )
            with self.store.lock:
                self._guard(job, generation)
                self._set_task(task, "success", "Archived.", 1.0)
        return self._close_stage(job, generation, stage, started)

    def _compilation_stage(self, job: Job, generation: int) -> None:
        started = time.monotonic()
        devices = job.definition["compilationDevices"]
        stage = self._open_stage(job, generation, "compilation", len(devices), [])
        with self.store.lock:
            for task, device in zip(stage.tasks, devices, strict=True):
                self._set_task(task, "success", f"Compiled {job.definition['modelId']} for {device}.", 1.0)
        if not self._close_stage(job, generation, stage, started):
            raise RuntimeError("compilation stage failed")

    def _finish(self, job: Job, generation: int, ok: bool, outputs: list[str]) -> None:
        with self.store.lock:
            self._guard(job, generation)
            if ok:
                self._terminate(
                    job, error=False, kind="job-completed", message="Job finished.", results=outputs
                )
            else:
                reasons = [
                    t.message for st in job.stages.values() for t in st.tasks if t.status_type == "error"
                ]
                first = f" First task error: {reasons[0]}" if reasons else ""
                processing = job.stages.get("processing")
                if processing is not None and processing.message.startswith("Stopped by processingTimeout"):
                    first = f" {processing.message}{first}"
                self._terminate(job, error=True, kind="job-failed", message=f"Job failed.{first}")

    def _terminate(
        self, job: Job, *, error: bool, kind: str, message: str, results: list[str] | None = None
    ) -> None:
        """Mark the job finished (caller holds the lock) and send the completion webhook."""
        job.is_terminal, job.error = True, error
        job.last_notification = {"type": kind, "message": message}
        if results is not None:
            job.last_notification["resultsBatches"] = results
        job.log("error" if error else "info", kind, {"message": message})
        url = job.definition.get("notificationsURL")
        if url:
            self.webhooks.send(
                url, {"type": JOB_EVENT, "job_id": job.job_id, "job_state": "fail" if error else "success"}
            )
