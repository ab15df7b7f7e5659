"""The last task of a pipeline DAG: one manifest that reconciles every chunk of the window.

With one chunk, that chunk's ``manifest.json`` (in the run's export folder) is the window's manifest
and is only checked against the listing. With several, each chunk's manifest stays in its
``chunk-NNNN/`` folder and a combined ``manifest.json`` is written to the run's export folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from include.roboflow_batch.export.combined import ChunkManifestError, chunk_entry, combine_manifests
from include.roboflow_batch.export.destination import MANIFEST_FILE, Destination


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
    listing: dict[str, Any],
    chunks: Sequence[dict[str, Any]],
    exports: Sequence[dict[str, Any]],
    destination_conn_id: str | None = None,
) -> dict[str, Any]:
    """Check (and for several chunks, write) the window's manifest; fail when it does not add up."""
    from airflow.sdk.exceptions import AirflowFailException

    specs, summaries = list(chunks), list(exports)
    if len(summaries) != len(specs):
        raise AirflowFailException(f"{len(specs)} chunks were planned but {len(summaries)} exported")
    try:
        entries = [
            chunk_entry(
                spec,
                _read_manifest(summary["manifest_uri"], destination_conn_id, spec["index"]),
                summary["manifest_uri"],
            )
            for spec, summary in zip(specs, summaries, strict=True)
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
    )
    if len(specs) == 1:
        manifest_uri = summaries[0]["manifest_uri"]
    else:
        destination = Destination(plan["destination"], destination_conn_id)
        destination.put_text(MANIFEST_FILE, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        manifest_uri = destination.uri_of(MANIFEST_FILE)
    if not manifest["reconciled"]:
        failing = sorted(name for name, passed in manifest["checks"].items() if not passed)
        raise AirflowFailException(
            f"the {len(specs)} chunk(s) of this window do not reconcile: {', '.join(failing)}; "
            f"details in {manifest_uri}"
        )
    return {
        "destination": plan["destination"],
        "manifest_uri": manifest_uri,
        "chunks": len(specs),
        "listed": manifest["inputs"]["listed"],
        "ingested": manifest["ingested"]["count"],
        "failed": manifest["failed"]["count"],
        "result_rows": manifest["results"]["rows"],
        "reconciled": True,
    }
