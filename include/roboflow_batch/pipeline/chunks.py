"""Fan a window out into chunks: one staging batch, one job and one export folder per references file.

``plan_chunks`` turns the listing's files into one ``ChunkSpec`` per chunk; the mapped steps take
their arguments from it, and from what the previous step returned for the same chunk, through the
small ``*_kwargs`` functions (used with ``XComArg.map``, so they must stay plain module-level
functions). Ids are a pure function of the run's ids and the chunk
index, so a retry or a re-run of the window re-attaches to the same batches and jobs. A window that
fits in one chunk keeps the run's own batch id, job id and export folder.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from include.roboflow_batch import task_ids
from include.roboflow_batch.api.ids import batch_stagings, derive_batch_id, derive_job_id

CHUNK_FOLDER_DIGITS = 4
#: A dry run's chunks have no references file: their steps are skipped before any reads it.
DRY_RUN_REFERENCES = ""


class ChunkSpec(TypedDict):
    """Everything the mapped steps of one chunk need (small and free of URLs: it goes to XCom)."""

    index: int
    batch_id: str
    job_id: str
    references: str
    count: int
    destination: str
    # The objects the listing skipped go into the window's manifest: a lone chunk's own, else the
    # combined one (so several chunks never count them twice).
    skipped_list: NotRequired[str | None]
    skipped_count: NotRequired[int | None]


class ChunkPlanError(ValueError):
    """The listing's chunk list is not usable; the message names what is wrong."""


def chunk_ids(batch_id: str, job_id: str, index: int, chunk_count: int) -> tuple[str, str]:
    """Batch and job id of chunk ``index``: the run's own when there is one chunk."""
    if chunk_count == 1:
        return batch_id, job_id
    return derive_batch_id(batch_id, "chunk", str(index)), derive_job_id(job_id, "chunk", str(index))


def chunk_destination(destination: str, index: int, chunk_count: int) -> str:
    """Export folder of chunk ``index``: the run's folder, or ``chunk-NNNN/`` inside it."""
    if chunk_count == 1:
        return destination
    return f"{destination.rstrip('/')}/chunk-{index:0{CHUNK_FOLDER_DIGITS}d}/"


def _checked_chunks(listing: dict[str, Any], dry_run: bool = False) -> list[dict[str, Any]]:
    chunks = listing.get("chunks")
    if not isinstance(chunks, list):
        raise ChunkPlanError(
            f"the listing ({task_ids.LIST_NEW_OBJECTS} or {task_ids.LIST_LOCAL_FILES}) returned no 'chunks' "
            "list: it must split the window (max_objects_per_file)"
        )
    if not chunks and listing.get("count") != 0:
        raise ChunkPlanError(f"the listing counted {listing.get('count')!r} objects but wrote no chunk")
    for position, chunk in enumerate(chunks):
        if not isinstance(chunk, dict) or chunk.get("index") != position:
            raise ChunkPlanError(f"chunks[{position}]: expected index {position}, got {chunk!r}")
        uri, count = chunk.get("references_uri"), chunk.get("count")
        if dry_run and uri is None:
            pass  # a dry run counts the chunks it would write
        elif not isinstance(uri, str) or "://" not in uri:
            raise ChunkPlanError(f"chunks[{position}].references_uri: not a URI: {uri!r}")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ChunkPlanError(f"chunks[{position}].count: expected a positive integer, got {count!r}")
    total = sum(chunk["count"] for chunk in chunks)
    if total != listing.get("count"):
        raise ChunkPlanError(
            f"the chunks hold {total} references but the listing counted {listing.get('count')}"
        )
    return chunks


def plan_chunks(plan: dict[str, Any], listing: dict[str, Any]) -> list[ChunkSpec]:
    """One ``ChunkSpec`` per references file of ``listing`` (the references task's summary).

    A window whose objects were all skipped has none: the mapped steps then run zero times (no
    batch, no job) and ``reconcile`` writes the window's manifest of skipped objects. A dry run's
    chunks have no references file (``DRY_RUN_REFERENCES``): the spend gate skips every step after it.
    """
    dry_run = bool(plan.get("dry_run"))
    chunks = _checked_chunks(listing, dry_run)
    total = len(chunks)
    specs: list[ChunkSpec] = []
    for chunk in chunks:
        index = chunk["index"]
        batch_id, job_id = chunk_ids(plan["batch_id"], plan["job_id"], index, total)
        specs.append(
            ChunkSpec(
                index=index,
                batch_id=batch_id,
                job_id=job_id,
                references=chunk["references_uri"] or DRY_RUN_REFERENCES,
                count=chunk["count"],
                destination=chunk_destination(plan["destination"], index, total),
                skipped_list=listing.get("skipped_uri") if total == 1 else None,
                skipped_count=listing.get("skipped_count") if total == 1 else None,
            )
        )
    return specs


def plan_chunks_task(plan: dict[str, Any], listing: dict[str, Any]) -> list[ChunkSpec]:
    """The ``plan_chunks`` task: a bad chunk list fails the run (retrying cannot fix it)."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        return plan_chunks(plan, listing)
    except ChunkPlanError as exc:
        raise AirflowFailException(str(exc)) from None


# Arguments of each mapped step (``XComArg.map`` callables) -------------------------------------
#
# Each mapped step expands over the chunk plan, or over what the previous mapped step returned:
# Airflow hands each task instance the values of its own map index, so every value below is the
# same chunk's, as a native value (a count stays a number, a missing one None). Where the values of
# several steps meet, their batch and job ids are checked to belong together.


class ChunkMismatchError(ValueError):
    """The values handed to one chunk's step belong to different chunks."""


def ingest_kwargs(spec: ChunkSpec) -> dict[str, Any]:
    return {"batch_id": spec["batch_id"], "references": spec["references"]}


def local_ingest_kwargs(spec: ChunkSpec) -> dict[str, Any]:
    return {"batch_id": spec["batch_id"], "local_file_list": spec["references"]}


def batch_wait_kwargs(ingested: dict[str, Any]) -> dict[str, Any]:
    """From what the chunk's ingest returned: its batch and how many files it sent."""
    return {"batch_id": ingested["batch_id"], "expected_count": ingested["expected_count"]}


def start_job_kwargs(chunk: tuple[ChunkSpec, dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """From the chunk, what its ingest returned and what the spend gate allowed it
    (``chunks.zip(ingest.output, spend_gate.output)``): the job runs on the batch ingest staged, the
    chunk's own or, when Roboflow kept the id of an expired one, the next staging's
    (``api.ids.staged_batch_id``), with the machine-time ceiling the gate reserved for it."""
    spec, ingested, allowed = chunk
    _check_staged_batch(spec, ingested.get("batch_id"))
    if allowed.get("index") != spec["index"]:
        raise ChunkMismatchError(
            f"chunk {spec['index']} (batch {spec['batch_id']}) was handed the allowance of chunk "
            f"{allowed.get('index')!r} by {task_ids.SPEND_GATE}"
        )
    return {
        "batch_id": ingested["batch_id"],
        "job_id": spec["job_id"],
        "processing_timeout_seconds": allowed.get("ceiling_seconds"),
    }


def _check_staged_batch(spec: ChunkSpec, batch_id: object) -> None:
    if batch_id not in batch_stagings(spec["batch_id"]):
        raise ChunkMismatchError(
            f"chunk {spec['index']} (batch {spec['batch_id']}) was handed values of other chunks: "
            f"{task_ids.INGEST} staged {batch_id!r}"
        )


def job_wait_kwargs(started: dict[str, Any]) -> dict[str, Any]:
    """From what start_job returned: a new attempt's job has an id of its own, the history counts
    the restarts the start task made, and a restart carries the ceiling the job was started with."""
    return {
        "job_id": started["job_id"],
        "job_history": started["job_history"],
        "restart_ceiling_seconds": started.get("ceiling_seconds"),
    }


def _check_one_chunk(
    spec: ChunkSpec, ingested: dict[str, Any], started: dict[str, Any], waited: dict[str, Any]
) -> None:
    _check_staged_batch(spec, ingested.get("batch_id"))
    found = {
        task_ids.INGEST: ingested.get("batch_id"),
        task_ids.START_JOB: started.get("batch_id"),
    }
    if found[task_ids.START_JOB] != found[task_ids.INGEST] or waited.get("job_id") != started.get("job_id"):
        raise ChunkMismatchError(
            f"chunk {spec['index']} (batch {spec['batch_id']}) was handed values of other chunks: "
            f"batches {found}, job started {started.get('job_id')!r}, job waited for {waited.get('job_id')!r}"
        )


def local_export_kwargs(
    chunk: tuple[ChunkSpec, dict[str, Any], dict[str, Any], dict[str, Any]],
) -> dict[str, Any]:
    """From the chunk and what its ingest, start_job and wait_for_job returned
    (``chunks.zip(ingest.output, start_job.output, wait_for_job.output)``).

    The export checks the results against ingest's expected count, and writes the whole history the
    wait returned (the start task's events and the wait's own restarts) into the manifest.
    """
    spec, ingested, started, waited = chunk
    _check_one_chunk(spec, ingested, started, waited)
    return {
        "job_id": waited["job_id"],
        "batch_id": ingested["batch_id"],
        "destination": spec["destination"],
        "expected_count": ingested["expected_count"],
        "job_history": waited["job_history"],
        "skipped_list": spec.get("skipped_list"),
        "skipped_count": spec.get("skipped_count"),
    }


def export_kwargs(chunk: tuple[ChunkSpec, dict[str, Any], dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """As ``local_export_kwargs``, and the chunk's references file (counted when ingest could not)."""
    return local_export_kwargs(chunk) | {"references": chunk[0]["references"]}
