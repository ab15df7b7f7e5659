"""Where a pipeline keeps what every worker must see across runs: ``<state_location>/<pipeline id>/``.

Celery workers share no disk, so the state lives on a store they all reach. ``state_location`` in
astro.yaml names it; by default it follows the source:

- ``local``: the source's ``state_directory`` (every worker must mount the source directory anyway);
- ``s3``/``gcs``: ``roboflow-state/`` in the folder of ``references_uri`` before its first placeholder
  (``s3://private/refs/{pipeline}/{interval_start:%Y%m%d}.jsonl`` -> ``s3://private/refs/roboflow-state/``),
  a private location the pipeline already writes, read and written with the references connection.

Each feature keeps its own folder under the pipeline's: ``processed-content/`` holds the record of
content already processed (``include.roboflow_batch.content``).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

from include.roboflow_batch.pipeline.run_window import as_uri
from include.roboflow_batch.pipeline.schema import LocalSource, PipelineConfig

DEFAULT_FOLDER = "roboflow-state/"


@dataclass(frozen=True)
class StateLocation:
    """A pipeline's own state folder (``uri`` ends with ``/``) and the connection that reaches it."""

    uri: str
    conn_id: str | None

    def folder(self, name: str) -> str:
        """The URI of a feature's folder inside the pipeline's state (``name`` is a plain segment)."""
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"a state folder name is one plain path segment, got {name!r}")
        return f"{self.uri}{name}/"


def _static_folder(template: str) -> str:
    """The folder part of ``template`` before its first placeholder (``""`` when it starts with one)."""
    head = ""
    for literal, name, _, _ in string.Formatter().parse(template):
        head += literal
        if name is not None:
            break
    return head[: head.rfind("/") + 1]


def state_location(pipeline: PipelineConfig, base_dir: Path) -> StateLocation:
    """The state folder of ``pipeline`` (astro.yaml at ``base_dir``) and its connection."""
    source = pipeline.source
    if pipeline.state_location is not None:
        root = as_uri(pipeline.state_location, base_dir)
        conn_id = pipeline.state_conn_id or pipeline.source_conn_for(root)
    elif isinstance(source, LocalSource):
        root = as_uri(source.state_directory, base_dir)
        conn_id = pipeline.state_conn_id
    else:
        root = as_uri(_static_folder(source.references_uri) + DEFAULT_FOLDER, base_dir)
        conn_id = pipeline.state_conn_id or pipeline.references_connection
    return StateLocation(f"{root.rstrip('/')}/{pipeline.id}/", conn_id)
