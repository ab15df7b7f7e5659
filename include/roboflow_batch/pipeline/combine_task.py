"""The last task of a pipeline DAG: one manifest that reconciles every chunk of the window.

With one chunk, that chunk's ``manifest.json`` (in the run's export folder) is the window's manifest
and is only checked against the listing. With several, each chunk's manifest stays in its
``chunk-NNNN/`` folder and a combined ``manifest.json`` is written to the run's export folder. With
none (every object of the window was skipped while listing, so nothing was ingested and no job ran),
the window's ``manifest.json`` lists the skipped objects: seen = skipped, processed = 0.

The task runs unless an upstream step failed (``none_failed``): mapped steps over zero chunks are
skipped, and it still has to write that manifest. A window with nothing at all skips it.

Once the window reconciles, the content it sent (the listing's content list) minus what failed at
ingest or in the workflow is added to the processed-content record: a window that fails records
nothing, so its objects are sent again by a later run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from include.roboflow_batch.export.combined import ChunkManifestError, chunk_entry, combine_manifests
from include.roboflow_batch.export.destination import MANIFEST_FILE, Destination
from include.roboflow_batch.export.ownership import skipped_only_manifest_problem
from include.roboflow_batch.export.results import UnreadableResultError
from include.roboflow_batch.export.results_asset import answer_extra, emit_results_event
from include.roboflow_batch.export.skipped import read_skipped
from include.roboflow_batch.pipeline.results_table_task import TableSpec, write_results_table

#: Runs after mapped steps that were skipped for want of chunks, never after a failure.
RECONCILE_TRIGGER_RULE = "none_failed"


def _read_manifest(uri: str, conn_id: str | None, index: int) -> dict[str, Any]:
    from airflow.sdk import ObjectStoragePath

    try:
        document = json.loads(ObjectStoragePath(uri, conn_id=conn_id).read_text())
    except FileNotFoundError:
        raise ChunkManifestError(f"chunk {index}: manifest {uri} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ChunkManifestError(f"chunk {index}: manifest {uri} is not JSON ({exc.msg})") from None
    if not isinstance(document, dict):
        raise ChunkManifestError(f"chunk {index}: manifest {uri} is not a JSON object")
    return document


def reconcile_chunks(
    plan: dict[str, Any],
    listing: dict[str, Any] | None,
    chunks: Sequence[dict[str, Any]] | None,
    exports: Sequence[dict[str, Any]] | None,
    destination_conn_id: str | None = None,
    started: Sequence[dict[str, Any]] | None = None,
    task: Any = None,
    outlet_events: Any = None,
    skipped_conn_id: str | None = None,
    table: TableSpec | None = None,
    processed_content: str | None = None,
    processed_content_conn_id: str | None = None,
    run_id: str | None = None,
    spend: dict[str, Any] | None = None,
    ti: Any = None,
) -> dict[str, Any]:
    """Check (and for zero or several chunks, write) the window's manifest; fail when it does not add up.

    ``started``: what each chunk's start_job returned (its job id and batch id). ``skipped_conn_id``
    reads the listing's skipped and content lists. ``table``: where the window's results table goes
    (written once the manifest reconciles; its summary and the source it read from join the return
    value). ``processed_content``: the folder of the processed-content record the window's content
    joins. ``task`` and ``outlet_events`` come from the Airflow context: the window's results Asset
    event (among the task's outlets) gets the manifest's summary. ``spend``
    (``account_spend``'s return value) and the spend gate's decision (read through ``ti``) put the
    run's estimate, ceiling and measured machine time into the manifest and the event; a job its
    ceiling stopped fails the run here, after the manifest is written, naming the budget and how to
    raise it.
    """
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    if listing is None or chunks is None:
        raise AirflowSkipException("nothing was listed in this window: there is nothing to account for")
    if plan.get("repair"):
        return reconcile_repair(plan, listing, list(exports or []), destination_conn_id, task, outlet_events)
    specs, summaries = list(chunks), list(exports or [])
    if started is not None:
        # A chunk whose job failed may run under a new attempt's id, chosen by its start_job.
        # ... and its batch may be the chunk's batch staged again under a new id (an expired one kept).
        specs = [
            {**spec, "job_id": job["job_id"], "batch_id": job.get("batch_id", spec["batch_id"])}
            for spec, job in zip(specs, list(started), strict=True)
        ]
    if len(summaries) != len(specs):
        raise AirflowFailException(f"{len(specs)} chunks were planned but {len(summaries)} exported")
    try:
        documents = [
            _read_manifest(summary["manifest_uri"], destination_conn_id, spec["index"])
            for spec, summary in zip(specs, summaries, strict=True)
        ]
        entries = [
            chunk_entry(spec, document, summary["manifest_uri"])
            for spec, summary, document in zip(specs, summaries, documents, strict=True)
        ]
    except ChunkManifestError as exc:
        raise AirflowFailException(str(exc)) from None
    manifest = combine_manifests(
        specs=specs,
        entries=entries,
        listed=listing["count"],
        destination=plan["destination"],
        media_type=listing["media_type"],
        window={"start": plan["window_start"], "end": plan["window_end"], "select": plan["select"]},
        skipped=listing.get("skipped") or {},
        skipped_list=listing.get("skipped_uri"),
        skipped_files=read_skipped(listing.get("skipped_uri"), skipped_conn_id),
    )
    if spend:
        manifest["spend"] = run_spend(spend)
    # The folder as the export names it (a lone chunk's export, else the window's own).
    if len(specs) == 1:
        folder = summaries[0].get("destination", plan["destination"])
        manifest_uri = summaries[0]["manifest_uri"]
    else:
        destination = Destination(plan["destination"], destination_conn_id)
        if not specs:
            problem = skipped_only_manifest_problem(
                destination.read_text(MANIFEST_FILE),
                uri=destination.uri_of(MANIFEST_FILE),
                window=manifest["window"],
            )
            if problem is not None:
                raise AirflowFailException(problem)
        destination.put_text(MANIFEST_FILE, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        folder, manifest_uri = destination.uri, destination.uri_of(MANIFEST_FILE)
    if not manifest["reconciled"]:
        failing = sorted(name for name, passed in manifest["checks"].items() if not passed)
        raise AirflowFailException(
            f"the {len(specs)} chunk(s) of this window do not reconcile: {', '.join(failing)}; "
            f"details in {manifest_uri}"
        )
    stopped = [entry for entry in entries if entry.get("stopped_by_ceiling")]
    if stopped:
        from include.roboflow_batch.pipeline.spend_tasks import gate_decision
        from include.roboflow_batch.spend.steps import ceiling_stop_message

        processed = manifest["ingested"]["count"] - manifest["processing_failed"]["count"]
        raise AirflowFailException(
            ceiling_stop_message(
                plan["pipeline_id"],
                gate_decision(ti) or {},
                processed=processed,
                total=manifest["inputs"]["listed"],
                manifest_uri=manifest_uri,
            )
        )
    summary = {
        "destination": folder,
        "manifest_uri": manifest_uri,
        "recorded_content": _record_content(
            processed_content, processed_content_conn_id, plan, listing, documents, skipped_conn_id, run_id
        ),
        "chunks": len(specs),
        "listed": manifest["inputs"]["listed"],
        **_window_counts(manifest),
        "batch_ids": manifest["ingested"]["batch_ids"],
        "job_ids": manifest["job_ids"],
        "destination_conn_id": destination_conn_id,
        "reconciled": True,
    }
    if spend:
        summary["spend"] = run_spend(spend)
    if table is not None:
        exports_read = list(zip(specs, summaries, documents, strict=True))
        try:
            written = write_results_table(
                table, plan, exports_read, manifest["skipped"]["files"], destination_conn_id
            )
        except UnreadableResultError as exc:
            raise AirflowFailException(str(exc)) from None
        summary["table"] = written
        summary["source"] = table["source"]
    if task is not None and outlet_events is not None:
        emit_results_event(
            {"outlet_events": outlet_events}, task.outlets, window_event_extra(manifest, summary)
        )
    return summary


def run_spend(spend: dict[str, Any]) -> dict[str, Any]:
    """The run's spend figures for the manifest, the summary and the results event."""
    keys = ("estimate_seconds", "estimate_credits", "ceiling_seconds", "machine_seconds", "credits")
    return {key: spend.get(key) for key in keys} | {
        "stopped_by_ceiling": bool(spend.get("stopped_by_ceiling")),
        "limits": list(spend.get("limits") or []),
    }


def _record_content(
    record_uri: str | None,
    record_conn_id: str | None,
    plan: dict[str, Any],
    listing: dict[str, Any],
    manifests: Sequence[dict[str, Any]],
    list_conn_id: str | None,
    run_id: str | None,
) -> int | None:
    """Add the reconciled window's processed content to the record; how many digests (None: off)."""
    content_uri = listing.get("content_uri")
    if record_uri is None or not content_uri:
        return None
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.exceptions import AirflowFailException

    from include.roboflow_batch.content.record import ContentRecord, RecordError, WindowRef
    from include.roboflow_batch.content.window_content import ContentListError, read_sent_content

    try:
        digests = read_sent_content(content_uri, list_conn_id, failed_names(manifests))
        window = WindowRef(plan["window_start"], plan["window_end"], plan["select"])
        ContentRecord(ObjectStoragePath(record_uri, conn_id=record_conn_id)).add_window(
            window, digests, run_id
        )
    except (ContentListError, RecordError) as exc:
        raise AirflowFailException(
            f"the window reconciled, but its content was not recorded: {exc}"
        ) from None
    return len(digests)


def failed_names(manifests: Sequence[dict[str, Any]]) -> set[str]:
    """Names of the objects that failed at ingest or in the workflow, in the chunks' manifests."""
    names: set[str] = set()
    for manifest in manifests:
        for section in ("failed", "processing_failed"):
            block = manifest.get(section)
            files = block.get("files") if isinstance(block, dict) else None
            for entry in files if isinstance(files, list) else []:
                if isinstance(entry, dict) and isinstance(entry.get("file_name"), str):
                    names.add(entry["file_name"])
    return names


def window_event_extra(manifest: dict[str, Any], summary: dict[str, Any]) -> dict[str, Any]:
    """The results Asset event of a window: where its manifest is and what it accounts for."""
    objects = manifest["objects"]
    batch_ids, job_ids = manifest["ingested"]["batch_ids"], manifest["job_ids"]
    return {
        "destination": summary["destination"],
        "manifest_uri": summary["manifest_uri"],
        "rows": summary["result_rows"],
        "objects": {
            "processed": objects["processed"] - manifest["processing_failed"]["count"],
            "failed": objects["failed"] + manifest["processing_failed"]["count"],
            "skipped": objects["skipped"],
        },
        # A window of one chunk keeps the run's own ids; several list theirs.
        "job_id": job_ids[0] if len(job_ids) == 1 else None,
        "batch_id": batch_ids[0] if len(batch_ids) == 1 else None,
        "job_ids": job_ids,
        "batch_ids": batch_ids,
        "chunks": summary["chunks"],
        "reconciled": summary["reconciled"],
        "spend": summary.get("spend"),
        **table_event_extra(summary.get("table")),
        **window_answer(manifest),
    }


def table_event_extra(written: dict[str, Any] | None) -> dict[str, Any]:
    """The results table in the event: its URI (every window, one path), this window's files and rows."""
    if not written:
        return {}
    return {
        "table": {
            "uri": written["table_uri"],
            "file": written["predictions_uri"],
            "rows": written["rows"],
            "failures_file": written["failures_uri"],
            "failure_rows": written["failure_rows"],
        }
    }


def _window_counts(manifest: dict[str, Any]) -> dict[str, Any]:
    """The counts of a window's manifest that reconcile's summary gives (a whole window or a repair)."""
    return {
        "ingested": manifest["ingested"]["count"],
        "failed": manifest["failed"]["count"],
        "processing_failed": manifest["processing_failed"]["count"],
        "result_rows": manifest["results"]["rows"],
        "skipped": manifest["objects"]["skipped"],
    }


def window_answer(manifest: dict[str, Any]) -> dict[str, Any]:
    """The attempt the window's answer is, and what it replaced: a lone chunk's own, else per chunk."""
    chunks = manifest["chunks"]
    if len(chunks) == 1:
        return answer_extra(chunks[0])
    replaced = [chunk["replaces"] for chunk in chunks if chunk.get("replaces")]
    return {"attempts": [chunk.get("attempt", 1) for chunk in chunks]} | (
        {"replaces": replaced} if replaced else {}
    )


def reconcile_repair(
    plan: dict[str, Any],
    listing: dict[str, Any],
    exports: Sequence[dict[str, Any]],
    destination_conn_id: str | None,
    task: Any = None,
    outlet_events: Any = None,
) -> dict[str, Any]:
    """Merge a repair's exports into its window's manifest (``repair.merge``) and check the window as one."""
    from airflow.sdk.exceptions import AirflowFailException

    from include.roboflow_batch.export.results_asset import results_event_extra
    from include.roboflow_batch.repair.merge import merge_repair
    from include.roboflow_batch.repair.selection import RepairRefused, checked_window_manifest

    repair = plan["repair"]
    window = Destination(repair["window_destination"], destination_conn_id)
    if not exports:
        raise AirflowFailException(
            f"repair {repair['number']} of {window.uri} took none of the {repair['objects']} objects it "
            f"looked for: {listing.get('skipped') or {}} (the source no longer has them, or cannot give "
            "them); the window's manifest is unchanged"
        )
    try:
        manifest = checked_window_manifest(window.read_text(MANIFEST_FILE), window.uri_of(MANIFEST_FILE))
    except RepairRefused as exc:
        raise AirflowFailException(f"repair: {exc}") from None
    for index, summary in enumerate(exports):
        folder = str(summary["destination"]).rstrip("/")
        if not folder.startswith(f"{window.uri}/"):
            raise AirflowFailException(
                f"repair export {folder} is not inside the window's folder {window.uri}"
            )
        try:
            repaired = _read_manifest(summary["manifest_uri"], destination_conn_id, index)
        except ChunkManifestError as exc:
            raise AirflowFailException(str(exc)) from None
        manifest = merge_repair(
            manifest, repaired, number=repair["number"], folder=folder[len(window.uri) + 1 :]
        )
    window.put_text(MANIFEST_FILE, json.dumps(manifest, sort_keys=True, separators=(",", ":")) + "\n")
    manifest_uri = window.uri_of(MANIFEST_FILE)
    if not manifest["reconciled"]:
        failing = sorted(name for name, passed in manifest["checks"].items() if passed is False)
        raise AirflowFailException(
            f"window {window.uri} does not reconcile after repair {repair['number']}: "
            f"{', '.join(failing)}; details in {manifest_uri}"
        )
    merged = manifest["repairs"][-1]
    outcome = {
        key: merged[key]
        for key in (
            "number",
            "job_id",
            "batch_id",
            "folder",
            "objects",
            "processed",
            "still_failing",
            "not_staged",
        )
    }
    summary = {
        "destination": window.uri,
        "manifest_uri": manifest_uri,
        "chunks": 1,
        "listed": manifest["inputs"]["expected"],
        **_window_counts(manifest),
        "reconciled": True,
        "repair": outcome,
    }
    if task is not None and outlet_events is not None:
        extra = results_event_extra(manifest, summary, manifest["objects"]["skipped"]) | {"repair": outcome}
        emit_results_event({"outlet_events": outlet_events}, task.outlets, extra)
    return summary
