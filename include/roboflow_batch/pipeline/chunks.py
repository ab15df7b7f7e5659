"""Fan a window out into chunks: one staging batch, one job and one export folder per references file.

``plan_chunks`` turns the listing's files into one ``ChunkSpec`` per chunk; the mapped steps take
their arguments from it through the small ``*_kwargs`` functions (used with ``XComArg.map``, so they
must stay plain module-level functions). Ids are a pure function of the run's ids and the chunk
index, so a retry or a re-run of the window re-attaches to the same batches and jobs. A window that
fits in one chunk keeps the run's own batch id, job id and export folder.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from include.roboflow_batch.api.ids import derive_batch_id, derive_job_id

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
            "list_new_objects returned no 'chunks' list: it must run with max_objects_per_file"
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


def ingest_kwargs(spec: ChunkSpec) -> dict[str, Any]:
    return {"batch_id": spec["batch_id"], "references": spec["references"]}


def local_ingest_kwargs(spec: ChunkSpec) -> dict[str, Any]:
    return {"batch_id": spec["batch_id"], "local_file_list": spec["references"]}


def batch_ready_kwargs(spec: ChunkSpec) -> dict[str, Any]:
    return {"batch_id": spec["batch_id"]}


def start_job_kwargs(spec: ChunkSpec) -> dict[str, Any]:
    return {"batch_id": spec["batch_id"], "job_id": spec["job_id"]}


def job_wait_kwargs(started: dict[str, Any]) -> dict[str, Any]:
    """From what start_job returned: a new attempt's job has an id of its own."""
    return {"job_id": started["job_id"]}


def local_export_kwargs(chunk: tuple[ChunkSpec, dict[str, Any]]) -> dict[str, Any]:
    """From the chunk and what its start_job returned (``chunks.zip(start_job.output)``).

    The file list of a local upload is not a references file: the export checks against ingest's
    expected count.
    """
    spec, started = chunk
    return {
        "job_id": started["job_id"],
        "batch_id": spec["batch_id"],
        "destination": spec["destination"],
        "skipped_list": spec.get("skipped_list"),
        "skipped_count": spec.get("skipped_count"),
    }


def export_kwargs(chunk: tuple[ChunkSpec, dict[str, Any]]) -> dict[str, Any]:
    """As ``local_export_kwargs``, and the chunk's references file to check the results against."""
    spec, _started = chunk
    return local_export_kwargs(chunk) | {"references": spec["references"]}


def same_chunk(task_id: str, key: str) -> str:
    """A template reading one field of what ``task_id`` returned for this task's own chunk."""
    return f"{{{{ ti.xcom_pull(task_ids='{task_id}', map_indexes=ti.map_index)['{key}'] }}}}"


def same_chunk_json(task_id: str, key: str) -> str:
    """A template giving, as JSON text, the XCom ``key`` that ``task_id`` pushed for this task's chunk.

    A plain XComArg of a mapped task resolves to every chunk's value; this pulls this chunk's only.
    """
    return f"{{{{ ti.xcom_pull(task_ids='{task_id}', key='{key}', map_indexes=ti.map_index) | tojson }}}}"


def same_chunk_item(task_id: str, key: str, *, as_json: bool = False) -> str:
    """A template giving this task's chunk's entry of the list ``key`` that ``task_id`` (unmapped)
    returned; ``None`` when that task returned nothing (it was skipped)."""
    value = (
        f"(returned['{key}'][ti.map_index] if returned and returned.get('{key}') "
        f"and ti.map_index < returned['{key}'] | length else none)"
    )
    rendered = f"{value} | tojson" if as_json else value
    return f"{{% set returned = ti.xcom_pull(task_ids='{task_id}') %}}{{{{ {rendered} }}}}"
