"""The ``list_local_files`` task: a local window's files, split into one file list per batch.

It plays for a local directory the part ``list_new_objects`` plays for a bucket: its summary
(``count``, ``media_type``, ``chunks``) feeds ``plan_chunks``, and each chunk's ``references_uri``
is a file list the mapped ``ingest`` reads. The lists live under the pipeline's state directory,
in a folder named after the run's batch id, so a re-run of the window rewrites the same lists.
Every entry of the window that is not sent is listed with its reason in ``files.skipped.jsonl``
beside them (``skipped_uri``), in the format of a bucket listing's skipped list, for the manifest.
With the processed-content record, files whose bytes another window processed are among them
(``already-processed``), and the content of the files sent is listed in ``files.content.jsonl``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NotRequired, TypedDict

CONTENT_LIST = "files.content.jsonl"


class LocalListingSpec(TypedDict):
    """What ``step_arguments`` hands the task (JSON-able: it is part of the serialized DAG)."""

    directory: str
    media_type: str
    select: str
    state_directory: str
    max_objects_per_file: int
    # The pipeline's processed-content record (None: every file of the window is sent).
    processed_content: str | None
    processed_content_conn_id: str | None
    # Reads the window's manifest when a run repairs it (the export's connection).
    repair_conn_id: NotRequired[str | None]


def _window(spec: LocalListingSpec, plan: dict[str, Any]) -> Any:
    from include.roboflow_batch.references.window import resolve_window

    # The plan's window (an aware time on each end), or every file.
    select = "all" if "all" in (spec["select"], plan["select"]) else "interval"
    return resolve_window(select, {}, plan["window_start"], plan["window_end"])


def list_local_files(spec: LocalListingSpec, plan: dict[str, Any]) -> dict[str, Any]:
    """Write the window's file lists and skipped list; skip the run when the window holds nothing.

    A window whose entries were all skipped returns ``count`` 0 and no chunk: nothing is processed,
    and the window's manifest still accounts for every entry. A dry run (``plan["dry_run"]``) only
    counts: the chunks it returns have no list behind them and nothing is written.
    """
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from include.roboflow_batch.ingest.file_lists import FileListError, write_file_lists, write_skipped_list
    from include.roboflow_batch.ingest.local_files import resolve_directory, scan_directory
    from include.roboflow_batch.operators.references import max_map_length

    try:
        directory = resolve_directory(spec["directory"])
        window = _window(spec, plan)
    except ValueError as exc:
        raise AirflowFailException(str(exc)) from None
    state = Path(spec["state_directory"])
    if plan.get("repair_of"):
        scan = _repair_scan(spec, plan, directory)
    else:
        scan = scan_directory(directory, spec["media_type"], window, ignore=[state])
    if not scan.files and not scan.skipped:
        raise AirflowSkipException(f"no {spec['media_type']} in {directory} in {window.describe()}")
    if plan.get("dry_run"):
        # Counted only; the processed-content record is not consulted (it would write a content list).
        from include.roboflow_batch.references.chunked import planned_chunks

        return {
            "source": directory.as_uri(),
            "media_type": spec["media_type"],
            "count": len(scan.files),
            "chunks": planned_chunks(len(scan.files), spec["max_objects_per_file"]),
            **scan.skipped_summary(),
            "skipped_examples": _examples(scan.skipped),
            "skipped_uri": None,
            "dry_run": True,
        }
    lists_dir = state / plan["batch_id"]
    scan, content_uri = _leave_out_processed(spec, plan, scan, lists_dir)
    try:
        chunks = write_file_lists(scan.files, lists_dir, spec["max_objects_per_file"], max_map_length())
    except FileListError as exc:
        raise AirflowFailException(str(exc)) from None
    skipped_uri = write_skipped_list(scan.skipped, lists_dir)
    return {
        "source": directory.as_uri(),
        "media_type": spec["media_type"],
        "count": len(scan.files),
        "chunks": chunks,
        **scan.skipped_summary(),
        "skipped_examples": _examples(scan.skipped),
        "skipped_uri": skipped_uri,
        "content_uri": content_uri,
    }


def _examples(skipped: list[Any]) -> list[dict[str, str]]:
    # As many examples as a bucket listing returns: the full list is in the file, not in XCom.
    from include.roboflow_batch.references.generate import MAX_SKIPPED_EXAMPLES

    return [{"key": entry.key, "reason": entry.reason} for entry in skipped[:MAX_SKIPPED_EXAMPLES]]


def _leave_out_processed(
    spec: LocalListingSpec, plan: dict[str, Any], scan: Any, lists_dir: Path
) -> tuple[Any, str | None]:
    """The scan without the files another window processed (added to its skipped entries), and the
    URI of the content list of the files sent."""
    if not spec.get("processed_content") or plan.get("repair_of"):
        # A repair takes the files its window left without a result, whatever the record says.
        return scan, None
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.exceptions import AirflowFailException

    from include.roboflow_batch.content.local_window import leave_out_processed
    from include.roboflow_batch.content.record import RecordError, WindowRef
    from include.roboflow_batch.ingest.local_files import DirectoryScan

    try:
        content = leave_out_processed(
            scan.files,
            spec["processed_content"] or "",
            spec.get("processed_content_conn_id"),
            WindowRef(plan["window_start"], plan["window_end"], plan["select"]),
            ObjectStoragePath((lists_dir / CONTENT_LIST).as_uri()),
        )
    except RecordError as exc:
        raise AirflowFailException(str(exc)) from None
    skipped = sorted([*scan.skipped, *content.processed], key=lambda entry: entry.key)
    return DirectoryScan(files=content.files, skipped=skipped), content.content_uri


def _repair_scan(spec: LocalListingSpec, plan: dict[str, Any], directory: Path) -> Any:
    """The files a repair of the window takes again: those its manifest names as not processed."""
    from airflow.sdk.exceptions import AirflowFailException

    from include.roboflow_batch.ingest.local_files import named_files
    from include.roboflow_batch.repair.selection import RepairRefused, objects_to_repair, window_manifest

    try:
        manifest = window_manifest(plan["repair_of"], spec.get("repair_conn_id"))
    except RepairRefused as exc:
        raise AirflowFailException(f"repair: {exc}") from None
    return named_files(directory, [obj.name for obj in objects_to_repair(manifest)], spec["media_type"])
