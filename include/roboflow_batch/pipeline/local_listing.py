"""The ``list_local_files`` task: a local window's files, split into one file list per batch.

It plays for a local directory the part ``list_new_objects`` plays for a bucket: its summary
(``count``, ``media_type``, ``chunks``) feeds ``plan_chunks``, and each chunk's ``references_uri``
is a file list the mapped ``ingest`` reads. The lists live under the pipeline's state directory,
in a folder named after the run's batch id, so a re-run of the window rewrites the same lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict


class LocalListingSpec(TypedDict):
    """What the factory hands the task (JSON-able: it is part of the serialized DAG)."""

    directory: str
    media_type: str
    select: str
    state_directory: str
    max_per_list: int


def _window(spec: LocalListingSpec, plan: dict[str, Any]) -> Any:
    from include.roboflow_batch.references.window import SelectionWindow, resolve_window

    if spec["select"] == "all" or plan["select"] == "all":
        return SelectionWindow()
    return resolve_window("interval", {}, plan["window_start"], plan["window_end"])


def list_local_files(spec: LocalListingSpec, plan: dict[str, Any]) -> dict[str, Any]:
    """Write the window's file lists; skip the run when the window holds no file."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from include.roboflow_batch.ingest.file_lists import FileListError, write_file_lists
    from include.roboflow_batch.ingest.local_files import discover_files, resolve_directory
    from include.roboflow_batch.operators.references import max_map_length

    try:
        directory = resolve_directory(spec["directory"])
        window = _window(spec, plan)
    except ValueError as exc:
        raise AirflowFailException(str(exc)) from None
    files = discover_files(directory, spec["media_type"], window)
    if not files:
        raise AirflowSkipException(f"no {spec['media_type']} in {directory} in {window.describe()}")
    lists_dir = Path(spec["state_directory"]) / plan["batch_id"]
    try:
        chunks = write_file_lists(files, lists_dir, spec["max_per_list"], max_map_length())
    except FileListError as exc:
        raise AirflowFailException(str(exc)) from None
    return {
        "source": directory.as_uri(),
        "media_type": spec["media_type"],
        "count": len(files),
        "chunks": chunks,
    }
