"""Export a finished Roboflow job's results to ``file://``, ``s3://`` or ``gs://``, provably complete."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from include.roboflow_batch import lineage
from include.roboflow_batch.api.client import RoboflowClient
from include.roboflow_batch.api.errors import NotFoundError
from include.roboflow_batch.api.models import BatchMetadata, JobMetadata, JobStage
from include.roboflow_batch.api.redaction import redact
from include.roboflow_batch.export.arguments import ReconcileSettings, checked_expected_count
from include.roboflow_batch.export.destination import MANIFEST_FILE, Destination
from include.roboflow_batch.export.dispatch import TransferSettings, transfer_sources
from include.roboflow_batch.export.inputs import (
    CEILING_STOP_STAGE,
    CEILING_STOP_TYPE,
    InputFiles,
    ceiling_unprocessed,
    input_batch_files,
    processing_failures,
)
from include.roboflow_batch.export.listing import DuplicateSourceError, OutputBatchGoneError, list_sources
from include.roboflow_batch.export.manifest import ExportCounts, ExportRecord, build_manifest
from include.roboflow_batch.export.names import UnsafeNameError
from include.roboflow_batch.export.ownership import foreign_manifest_problem, manifest_object
from include.roboflow_batch.export.progress import load_progress
from include.roboflow_batch.export.replacement import (
    export_mode,
    finish_switch,
    staging_folder,
    switch_to,
    with_history,
)
from include.roboflow_batch.export.results import ResultCount, count_results, result_format
from include.roboflow_batch.export.results_asset import ResultsEventMixin
from include.roboflow_batch.export.skipped import listed_skipped_count, read_skipped
from include.roboflow_batch.export.source_transfer import SourceFile, SourceResult, UnreadableResultError
from include.roboflow_batch.hooks.errors import roboflow_errors
from include.roboflow_batch.jobs.ledger import JobHistory, JobHistoryError
from include.roboflow_batch.jobs.machine_time import JobSpend, fetch_job_spend
from include.roboflow_batch.jobs.status import describe_notification
from include.roboflow_batch.operators.base import RoboflowOperator
from include.roboflow_batch.parallel import ItemFailedError
from include.roboflow_batch.references.naming import key_for_name
from include.roboflow_batch.repair.merge import reapply_repairs
from include.roboflow_batch.retention import expired_input_message, expired_results_message

if TYPE_CHECKING:
    from airflow.sdk import Context

EXPIRY_WARNING = timedelta(days=3)


@dataclass(frozen=True)
class ExportedJob:
    """The finished job being exported: the stage read, its output batches, the input batch, and
    the machine-time ceiling's stop when that is how the job ended."""

    job: JobMetadata
    stage_name: str
    batch_ids: list[str]
    batch_id: str
    media_type: str
    stopped: JobSpend | None


class RoboflowExportOperator(lineage.StepLineage, ResultsEventMixin, RoboflowOperator):
    """
    Export the output of a finished Roboflow job and write a reconciled ``manifest.json`` next to it.

    Follows ``outputBatches`` of ``stage``, lists every part and page, refuses any server-chosen name
    that is not a plain relative path, and streams each file with at most ``max_concurrency`` threads
    straight to ``destination`` (archives member by member, checked: no path escapes, links out or
    devices), hashing and counting rows on the way; every file appears atomically. A re-run skips
    sources already complete there (recorded with size and sha256 in ``_progress/``). The manifest
    reconciles inputs, ingested and failed files and result rows (see
    ``include.roboflow_batch.export.manifest``); a mismatch fails the task (``on_mismatch="fail"``, the
    default) or logs a warning (``"warn"``) - it is never silent.

    :param job_id: the finished job.
    :param destination: folder URI: ``file:///...``, ``s3://bucket/prefix``, ``gs://bucket/prefix``.
    :param destination_conn_id: Airflow connection for the destination's object store.
    :param stage: job stage whose output batches to export (``export`` = archives, ``processing`` = raw).
    :param batch_id: the job's input batch (default: read from the job definition).
    :param expected_count: number of inputs the pipeline meant to process (an int; None: not known).
    :param references: URI of the references JSONL (one line per input) when ``expected_count`` is None.
    :param skipped_list: URI of the JSONL of objects skipped while listing (``skipped_uri`` of the
        references operators), joined into the manifest; read with ``references_conn_id``.
    :param skipped_count: how many objects the listing skipped (``skipped_count``), checked against it.
    :param name_field: result column naming the input file (default: detected).
    :param transfer_processes: worker processes downloading and writing for a ``file://``
        destination, each with its share of ``max_concurrency`` threads. Default ``None``: one per
        core when there are at least 64 source files (below that, starting them costs more than a
        second core saves); ``0``: all in this process's threads (always so for object stores).
    :param job_history: the interval's job creations, restarts and re-attachments (the job wait's
        return value ``job_history``: a list of events, or a ``JobHistory``), copied into the manifest
        as ``job_history``; its earlier attempts may own results already in ``destination``.
    :param export_when_stopped_by_ceiling: export a job that its machine-time ceiling
        (``processingTimeoutSeconds``) stopped: the ``processing`` stage's results of the tasks that
        finished, with every file it did not reach in ``processing_failed`` (log type
        ``stopped-by-ceiling``) and ``stopped_by_ceiling`` in the manifest. Other failed jobs are refused.
    :param spend: the job's estimate, ceiling and measured machine time, copied into the manifest as
        ``spend``.
    :param spend_from: instead of ``spend``: the id of the unmapped task whose return value lists each
        chunk's spend under ``jobs`` (a pipeline's ``account_spend``); this chunk's entry is read from
        XCom as it is.
    :return: ``{destination, manifest_uri, files_written, files_skipped, result_rows, reconciled}``
    """

    template_fields: Sequence[str] = (
        "job_id",
        "destination",
        "stage",
        "batch_id",
        "expected_count",
        "references",
        "destination_conn_id",
        "job_history",
        "skipped_list",
        "skipped_count",
        "spend",
    )
    ui_color = "#8b5cf6"

    def __init__(
        self,
        *,
        job_id: str,
        destination: str,
        destination_conn_id: str | None = None,
        stage: str = "export",
        batch_id: str | None = None,
        expected_count: int | None = None,
        references: str | None = None,
        references_conn_id: str | None = None,
        skipped_list: str | None = None,
        skipped_count: int | None = None,
        max_concurrency: int = 16,
        roboflow_conn_id: str = "roboflow_default",
        name_field: str | None = None,
        on_mismatch: str = "fail",
        job_history: JobHistory | Sequence[Mapping[str, Any]] | None = None,
        transfer_processes: int | None = None,
        export_when_stopped_by_ceiling: bool = False,
        spend: Mapping[str, Any] | None = None,
        spend_from: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(roboflow_conn_id=roboflow_conn_id, **kwargs)
        self.export_when_stopped_by_ceiling = export_when_stopped_by_ceiling
        self.spend = spend
        self.spend_from = spend_from
        self.transfer = TransferSettings(
            max_concurrency=max_concurrency,
            transfer_processes=transfer_processes,
            name_field=name_field,
        )
        # Templated fields are kept verbatim and checked in execute(), after rendering.
        self.job_id = job_id
        self.stage = stage
        self.batch_id = batch_id
        self.destination = destination
        self.destination_conn_id = destination_conn_id
        self.reconcile = ReconcileSettings(on_mismatch=on_mismatch, references_conn_id=references_conn_id)
        self.expected_count = expected_count
        self.references = references
        self.skipped_list = skipped_list
        self.skipped_count = skipped_count
        self.job_history = job_history

    def step_lineage(self, result: Mapping[str, Any]) -> Any:
        """The results destination out; the job, its input batch and the files and rows as the facet."""
        destination = result.get("destination") or self.destination
        manifest = self._manifest or {}
        return lineage.operator_lineage(
            outputs=[lineage.dataset_for_uri(destination)] if "{{" not in destination else [],
            run_facets=lineage.roboflow_run_facets(
                batch_id=self.batch_id or (manifest.get("ingested") or {}).get("batch_id"),
                job_id=self.job_id,
                counts={key: result.get(key) for key in ("result_rows", "files_written", "files_skipped")},
                spend=manifest.get("spend"),
            ),
        )

    # -- inputs -------------------------------------------------------------------------------------

    def _check_arguments(self) -> int | None:
        try:
            return checked_expected_count(
                job_id=self.job_id,
                transfer=self.transfer,
                reconcile=self.reconcile,
                expected_count=self.expected_count,
            )
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from None

    def _job_history(self) -> JobHistory | None:
        if self.job_history is None:
            return None
        try:
            return JobHistory.from_entries(self.job_history)
        except JobHistoryError as exc:
            raise AirflowFailException(f"job_history: {exc}") from None

    def _listed_skipped_count(self) -> int | None:
        try:
            return listed_skipped_count(self.skipped_count)
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from None

    def _expected_inputs(self, expected: int | None) -> tuple[int | None, str | None]:
        if expected is not None:
            return expected, "expected_count"
        if not self.references:
            self.log.warning("Neither expected_count nor references given: the input count is not checked.")
            return None, None
        path = ObjectStoragePath(self.references, conn_id=self.reconcile.references_conn_id)
        try:
            with path.open("r", encoding="utf-8") as handle:
                # Count lines only: the file holds signed URLs, which must never reach a log.
                return sum(1 for line in handle if line.strip()), "references"
        except FileNotFoundError:
            raise AirflowFailException(f"references: file not found: {self.references}") from None

    # -- listing ------------------------------------------------------------------------------------

    def _stage(self, client: RoboflowClient, name: str) -> JobStage:
        stages = client.list_job_stages(self.job_id)
        for stage in stages:
            if name in (stage.processing_stage_name, stage.processing_stage_id):
                if not stage.output_batches:
                    raise AirflowFailException(f"Stage {name!r} of job {self.job_id} has no output batches.")
                return stage
        known = ", ".join(sorted(s.processing_stage_name for s in stages)) or "none"
        raise AirflowFailException(f"Job {self.job_id} has no stage {name!r} (stages: {known}).")

    def _warn_if_expiring(self, batch: BatchMetadata) -> None:
        left = batch.expiry_date - datetime.now(UTC)
        if left < EXPIRY_WARNING:
            self.log.warning(
                "Output batch %s expires at %s (in %s): export it soon, Roboflow deletes it then.",
                batch.batch_id,
                batch.expiry_date.isoformat(),
                str(left).split(".")[0],
            )

    def _list_sources(self, client: RoboflowClient, stage: JobStage) -> list[SourceFile]:
        batch_ids = list(stage.output_batches or [])
        try:
            return list_sources(client, batch_ids, self._warn_if_expiring)
        except OutputBatchGoneError as exc:
            message = expired_results_message(
                self.job_id, exc.batch_id, stage.processing_stage_name, stage.start_timestamp
            )
            raise AirflowFailException(f"{message} (Roboflow answered: {exc.answer})") from None
        except UnsafeNameError as exc:
            raise AirflowFailException(f"Output of job {self.job_id}: {exc}") from None
        except DuplicateSourceError as exc:
            raise AirflowFailException(f"Output of job {self.job_id} {exc}.") from None

    # -- transfer -----------------------------------------------------------------------------------

    def _count(self, lines: Iterable[str], relpath: str) -> ResultCount:
        fmt = result_format(relpath)
        if fmt is None:
            return ResultCount()
        try:
            return count_results(lines, fmt, relpath, self.transfer.name_field)
        except ValueError as exc:
            raise AirflowFailException(f"Unreadable result file {relpath}: {exc}") from exc

    def _run_transfers(
        self, client: RoboflowClient, todo: list[SourceFile], dest: Destination
    ) -> list[SourceResult]:
        """Transfer with at most ``max_concurrency`` downloads at once; the first failure stops the rest."""
        every = max(1, len(todo) // 20)

        def report(done: int) -> None:
            if done % every == 0 or done == len(todo):
                self.log.info("Exported %d/%d source files.", done, len(todo))

        try:
            return transfer_sources(client, todo, dest, self.transfer, on_done=report)
        except ItemFailedError as failure:
            raise self._failure(failure.__cause__, failure.item) from None

    def _transfer_all(
        self,
        client: RoboflowClient,
        sources: list[SourceFile],
        dest: Destination,
        batch_ids: list[str],
        known: dict[str, dict[str, Any]],
        sizes: dict[str, int] | None,
    ) -> tuple[list[SourceResult], list[SourceFile], dict[str, dict[str, Any]]]:
        """``known``: the destination's progress records; ``sizes``: its files, when already listed."""
        if sizes is None:
            sizes = dest.existing_sizes() if known else {}
        complete = [s for s in sources if s.key in known and dest.is_complete(known[s.key], sizes)]
        done = {s.key for s in complete}
        todo = [s for s in sources if s.key not in done]
        self.log.info(
            "Job %s: %d source files in %s; %d already complete at %s, %d to export.",
            self.job_id,
            len(sources),
            ", ".join(batch_ids),
            len(complete),
            dest.uri,
            len(todo),
        )
        return self._run_transfers(client, todo, dest), complete, known

    def _failure(self, exc: BaseException | None, source: SourceFile) -> BaseException:
        if isinstance(exc, (UnsafeNameError, UnreadableResultError)):
            return AirflowFailException(str(exc))
        if isinstance(exc, AirflowException) or not isinstance(exc, Exception):
            return exc or AirflowException(f"Exporting {source.key} of job {self.job_id} failed.")
        # The signed URL is a bearer secret whatever its parameter names are.
        secrets = (source.download_url, urlsplit(source.download_url).query)
        return AirflowException(redact(f"Exporting {source.key} of job {self.job_id} failed: {exc}", secrets))

    # -- main ---------------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        expected_arg = self._check_arguments()
        history = self._job_history()
        try:
            dest = Destination(self.destination, self.destination_conn_id)
        except ValueError as exc:
            raise AirflowFailException(f"destination: {exc}") from exc
        self.spend = self._chunk_spend(context) if self.spend_from else self.spend
        with roboflow_errors(f"export of Roboflow job {self.job_id}", self.roboflow_conn_id):
            return self.emit_results(context, self._export(dest, expected_arg, history))

    def _chunk_spend(self, context: Context) -> Mapping[str, Any] | None:
        """This chunk's entry of ``spend_from``'s ``jobs`` (None when that task returned nothing)."""
        ti = context["ti"]
        returned = ti.xcom_pull(task_ids=self.spend_from)
        jobs = returned.get("jobs") if isinstance(returned, Mapping) else None
        index = ti.map_index if ti.map_index is not None and ti.map_index > 0 else 0
        entry = jobs[index] if isinstance(jobs, list) and index < len(jobs) else None
        return entry if isinstance(entry, Mapping) else None

    def _export(
        self, dest: Destination, expected_arg: int | None, history: JobHistory | None
    ) -> dict[str, Any]:
        client = self._hook().get_client()

        job = client.get_job(self.job_id)
        stage_name, stopped = str(self.stage), None
        if job.is_terminal and job.error and self.export_when_stopped_by_ceiling:
            stopped = fetch_job_spend(client, self.job_id)
            if stopped.stopped_by_ceiling:
                # The export stage never ran: what finished is in the processing stage's output.
                stage_name = CEILING_STOP_STAGE
                self.log.warning(
                    "Roboflow job %s was stopped by its machine-time ceiling: exporting what finished "
                    "(stage %s); the files it did not reach are listed in the manifest.",
                    self.job_id,
                    stage_name,
                )
            else:
                stopped = None
        if not job.is_terminal or (job.error and stopped is None):
            state = "has not finished" if not job.is_terminal else "failed"
            raise AirflowFailException(
                f"Roboflow job {self.job_id} {state}: there is nothing complete to export."
            )
        definition = job.job_definition or {}
        media_type = "videos" if "video" in str(definition.get("type", "")) else "images"
        batch_id = self.batch_id or (definition.get("jobInput") or {}).get("batchId")
        if not batch_id:
            raise AirflowFailException(
                f"batch_id: not given and job {self.job_id} does not name its input batch."
            )

        current_text = dest.read_text(MANIFEST_FILE)
        foreign = foreign_manifest_problem(
            current_text,
            uri=dest.uri_of(MANIFEST_FILE),
            job_id=self.job_id,
            batch_id=batch_id,
            related=history.job_ids() if history is not None else set(),
        )
        if foreign is not None:
            raise AirflowFailException(foreign)
        current = manifest_object(current_text)
        if current is not None and current.get("switch"):
            # A switch to a job's results was interrupted: finish it first (nothing is transferred).
            self.log.info("Finishing the switch of %s to job %s's results.", dest.uri, current["job_id"])
            current = finish_switch(dest, current)
            current_text = dest.read_text(MANIFEST_FILE)
            if current.get("job_id") == self.job_id:
                return self._finish(dest, current, written=0)

        stage = self._stage(client, stage_name)
        batch_ids = list(stage.output_batches or [])
        sources = self._list_sources(client, stage)
        try:
            known = load_progress(dest)
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from exc
        present = dest.existing_sizes() if current is None else None
        own = bool(known) and set(known) <= {source.key for source in sources}
        mode = export_mode(current, self.job_id, present or {}, own)
        if mode == "in_place":
            target, sizes = dest, present
        else:
            # Another attempt's answer (or an unfinished export's files) is there: stage, then switch.
            target = Destination(dest.uri_of(staging_folder(self.job_id)), self.destination_conn_id)
            self.log.info(
                "%s holds %s: exporting job %s into %s, then switching the destination to it.",
                dest.uri,
                f"the results of job {current['job_id']}" if current else "files of an unfinished export",
                self.job_id,
                target.uri,
            )
            try:
                known = load_progress(target)
            except ValueError as exc:
                raise AirflowFailException(str(exc)) from exc
            sizes = None
        manifest, written = self._export_into(
            client,
            target,
            dest.uri,
            sources,
            ExportedJob(job, stage_name, batch_ids, batch_id, media_type, stopped),
            expected_arg,
            known,
            sizes,
        )
        manifest["attempt"] = history.attempt_of(self.job_id) if history is not None else 1
        if history is not None:
            manifest["job_history"] = history.entries()
        if mode == "in_place":
            manifest = with_history(manifest, current, None)
            if current is not None and current.get("job_id") == self.job_id:
                # The window's answer written again keeps the repairs merged into it.
                manifest = reapply_repairs(manifest, current, lambda path: self._repair_manifest(dest, path))
            dest.put_text(MANIFEST_FILE, json.dumps(manifest, sort_keys=True, separators=(",", ":")) + "\n")
            # What a switch to this job left when it stopped before removing its staging folder.
            dest.remove_folder(staging_folder(self.job_id))
        else:
            manifest = switch_to(dest, manifest, current_text, current, self.job_id)
            self.log.info(
                "%s now holds job %s's results; the earlier answer is in %s.",
                dest.uri,
                self.job_id,
                manifest["replaces"]["moved_to"],
            )
        return self._finish(dest, manifest, written)

    def _repair_manifest(self, dest: Destination, relpath: str) -> dict[str, Any]:
        document = manifest_object(dest.read_text(relpath))
        if document is None:
            raise AirflowFailException(
                f"{dest.uri_of(relpath)}: the manifest of a repair merged into this window is missing or "
                "unreadable; the window's manifest cannot be written again without it"
            )
        return document

    def _export_into(
        self,
        client: RoboflowClient,
        target: Destination,
        destination_uri: str,
        sources: list[SourceFile],
        exported: ExportedJob,
        expected_arg: int | None,
        known: dict[str, dict[str, Any]],
        sizes: dict[str, int] | None,
    ) -> tuple[dict[str, Any], int]:
        """Transfer ``sources`` into ``target`` and build their manifest; returns it and the files written."""
        stopped, batch_ids, batch_id = exported.stopped, exported.batch_ids, exported.batch_id
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="roboflow-export-inputs") as side:
            # The input batch listing and job logs are only needed for the manifest: fetch them
            # while the files transfer.
            inputs: Future[InputFiles] = side.submit(input_batch_files, client, batch_id)
            unprocessed: Future[list[dict[str, Any]]] = side.submit(processing_failures, client, self.job_id)
            try:
                results, complete, known = self._transfer_all(
                    client, sources, target, batch_ids, known, sizes
                )
            except BaseException:
                inputs.cancel()
                unprocessed.cancel()
                raise
            try:
                ingested_count, ingested_names, failed = inputs.result()
            except NotFoundError as exc:
                message = expired_input_message(self.job_id, batch_id, exported.job.created_at)
                raise AirflowFailException(f"{message} (Roboflow answered: {exc})") from None
            processing_failed = unprocessed.result()
        counts = ResultCount()
        files: list[dict[str, Any]] = []
        written = sum(r.written for r in results)
        for outcome in results:
            counts.add(outcome.counts)
            files.extend(outcome.files)
        for source in complete:
            for entry in known[source.key]["files"]:
                files.append(entry)
                if result_format(entry["path"]):
                    counts.add(self._count(target.iter_lines(entry["path"]), entry["path"]))

        if stopped is not None:
            processing_failed = [
                *processing_failed,
                *ceiling_unprocessed(ingested_names, counts.rows_by_name, processing_failed),
            ]
        expected, expected_source = self._expected_inputs(expected_arg)
        export_counts = ExportCounts(
            media_type=exported.media_type,
            expected=expected,
            ingested_count=ingested_count,
            ingested_names=ingested_names,
            failed=failed,
            processing_failed=processing_failed,
            rows=counts.rows,
            rows_by_name=counts.rows_by_name,
            unnamed_rows=counts.unnamed_rows,
            skipped=read_skipped(self.skipped_list, self.reconcile.references_conn_id),
            skipped_expected=self._listed_skipped_count(),
        )
        manifest = build_manifest(
            ExportRecord(
                job_id=self.job_id,
                stage=exported.stage_name,
                output_batches=batch_ids,
                destination=destination_uri,
                batch_id=batch_id,
                expected_source=expected_source,
                counts=export_counts,
                files=files,
                key_for_name=key_for_name,
            )
        )
        if stopped is not None:
            manifest["stopped_by_ceiling"] = {
                "machine_seconds": round(stopped.machine_time.seconds, 3),
                "unprocessed": sum(1 for f in processing_failed if f.get("log_type") == CEILING_STOP_TYPE),
                "message": describe_notification(stopped.job.last_notification),
            }
        if self.spend is not None:
            manifest["spend"] = dict(self.spend)
        return manifest, written

    def _finish(self, dest: Destination, manifest: dict[str, Any], written: int) -> dict[str, Any]:
        """The summary of the manifest now in ``dest``; a manifest that does not reconcile is never silent."""
        self._manifest = manifest
        summary = {
            "destination": dest.uri,
            "manifest_uri": dest.uri_of(MANIFEST_FILE),
            "files_written": written,
            "files_skipped": len(manifest["files"]) - written,
            "result_rows": manifest["results"]["rows"],
            "reconciled": manifest["reconciled"],
        }
        if isinstance(manifest.get("stopped_by_ceiling"), dict):
            summary["stopped_by_ceiling"] = True
        if manifest.get("replaces"):
            summary["replaces"] = manifest["replaces"]
        self.log.info("Export summary: %s", summary)
        if not manifest["reconciled"]:
            message = (
                f"Export of job {self.job_id} does not reconcile: checks {manifest['checks']}; inputs "
                f"{manifest['inputs']['expected']}, ingested {manifest['ingested']['count']}, failed "
                f"{manifest['failed']['count']}, result rows {manifest['results']['rows']}. "
                f"Details in {summary['manifest_uri']}."
            )
            if self.reconcile.on_mismatch == "fail":
                raise AirflowFailException(message)
            self.log.warning(message)
        return summary
