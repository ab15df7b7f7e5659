"""Write one window's results table: its predictions and its failed objects, one Parquet file each.

The result files the export landed (CSV or JSONL, in every chunk's folder) are read back as a
stream and written in record batches, so memory stays flat whatever the window's size. Each file
is written under a hidden name and renamed into place (a local folder) or uploaded under its final
key once complete (an object store): a reader sees the window's old file or its new one, never a
part, and a re-run of the window replaces the file it wrote before.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from include.roboflow_batch.export.destination import Destination
from include.roboflow_batch.export.results import UnreadableResultError, result_format
from include.roboflow_batch.references.naming import key_for_name
from include.roboflow_batch.results_table import schema
from include.roboflow_batch.results_table.location import FAILURES_TABLE, PREDICTIONS_TABLE, window_relpath
from include.roboflow_batch.results_table.predictions import Prediction, ResultRow, read_result_row

#: Records per Parquet row group and per batch held in memory.
BATCH_ROWS = 16_384
COMPRESSION = "zstd"


@dataclass(frozen=True)
class TableTarget:
    """Where the table lives and how result names map back to source keys."""

    root: str
    conn_id: str | None = None
    # A local directory's objects are sent under their own file names; bucket keys are encoded.
    names_are_keys: bool = False
    name_field: str | None = None


@dataclass(frozen=True)
class TableWindow:
    pipeline_id: str
    start: datetime | None
    end: datetime


@dataclass(frozen=True)
class ChunkOutput:
    """One export of the window: its folder (read with ``conn_id``), its ids and its manifest."""

    destination: str
    conn_id: str | None
    batch_id: str | None
    job_id: str | None
    manifest: Mapping[str, Any]


@dataclass(frozen=True)
class WrittenTable:
    """What the window's table holds and where: the event extra and the view read it."""

    root: str
    predictions_uri: str
    failures_uri: str
    rows: int
    failure_rows: int
    result_rows: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Rows:
    """Records not yet written, as tuples in ``names`` order; the window's constant columns are added
    when a batch is made."""

    def __init__(self, table_schema: pa.Schema, constants: Mapping[str, Any]) -> None:
        self.schema = table_schema
        self.constants = dict(constants)
        self.names = [name for name in table_schema.names if name not in self.constants]
        self.rows: list[tuple[Any, ...]] = []

    def add_record(self, record: Mapping[str, Any]) -> None:
        self.rows.append(tuple(record.get(name) for name in self.names))

    def batch(self) -> pa.RecordBatch:
        length = len(self.rows)
        columns = list(zip(*self.rows, strict=True)) if self.rows else [() for _ in self.names]
        by_name = dict(zip(self.names, columns, strict=True))
        arrays = [
            pa.array([self.constants[field.name]] * length, type=field.type)
            if field.name in self.constants
            else pa.array(by_name[field.name], type=field.type)
            for field in self.schema
        ]
        self.rows = []
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _points(prediction: Prediction) -> list[dict[str, float]] | None:
    if prediction.points is None:
        return None
    return [{"x": p.x, "y": p.y} for p in prediction.points]


def _keypoints(prediction: Prediction) -> list[dict[str, Any]] | None:
    if prediction.keypoints is None:
        return None
    return [
        {"x": k.x, "y": k.y, "confidence": k.confidence, "class_id": k.class_id, "class_name": k.class_name}
        for k in prediction.keypoints
    ]


def _prediction_row(head: tuple[Any, ...], p: Prediction, tail: tuple[Any, ...]) -> tuple[Any, ...]:
    """One record in the predictions table's column order (``PREDICTION_ROW`` below)."""
    return (
        *head,
        p.output_name,
        p.output_kind,
        p.class_name,
        p.class_id,
        p.confidence,
        p.x,
        p.y,
        p.width,
        p.height,
        p.detection_id,
        _points(p),
        _keypoints(p),
        p.image_width,
        p.image_height,
        p.raw_json,
        *tail,
    )


# head: the source and the frame; tail: where the row came from. Checked against the schema at import.
_HEAD = ("source_key", "source_name", "frame_number", "frame_timestamp")
_TAIL = ("batch_id", "job_id", "result_file", "result_line")
PREDICTION_ROW = (
    *_HEAD,
    "output_name",
    "output_kind",
    "class_name",
    "class_id",
    "confidence",
    "x",
    "y",
    "width",
    "height",
    "detection_id",
    "points",
    "keypoints",
    "image_width",
    "image_height",
    "raw_json",
    *_TAIL,
)
if tuple(schema.PREDICTIONS.names[2:]) != PREDICTION_ROW:
    raise ImportError("the results table writer's column order differs from its schema")


class _Names:
    """Source keys of result names (decoding each name once)."""

    def __init__(self, names_are_keys: bool) -> None:
        self.names_are_keys = names_are_keys
        self.keys: dict[str, str | None] = {}

    def key(self, name: str | None) -> str | None:
        if name is None or self.names_are_keys:
            return name
        if name not in self.keys:
            try:
                self.keys[name] = key_for_name(name)
            except ValueError:
                self.keys[name] = None
        return self.keys[name]


def _records(lines: Iterable[str], fmt: str, relpath: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """``(position, row)`` of a result file: the line number (JSONL) or record number (CSV)."""
    if fmt == "csv":
        yield from enumerate(csv.DictReader(lines), start=1)
        return
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise UnreadableResultError(f"Unreadable result file {relpath}, line {number}: {exc}") from None
        yield number, row if isinstance(row, Mapping) else {}


def result_files(manifest: Mapping[str, Any]) -> list[str]:
    """The result files (CSV/JSONL) an export's manifest lists, in path order."""
    paths = [str(f.get("path", "")) for f in manifest.get("files") or [] if isinstance(f, Mapping)]
    return sorted(path for path in paths if result_format(path))


def read_chunk_rows(
    chunk: ChunkOutput, name_field: str | None = None
) -> Iterator[tuple[str, int, ResultRow]]:
    """``(result file URI, position, row)`` for every result row one export landed."""
    folder = Destination(chunk.destination, chunk.conn_id)
    for relpath in result_files(chunk.manifest):
        fmt = result_format(relpath)
        assert fmt is not None  # result_files keeps result files only
        uri = folder.uri_of(relpath)
        for position, row in _records(folder.iter_lines(relpath), fmt, relpath):
            yield uri, position, read_result_row(row, name_field)


def _failure_records(
    chunks: Sequence[ChunkOutput], skipped: Iterable[Mapping[str, Any]], names: _Names
) -> Iterator[dict[str, Any]]:
    for entry in skipped:
        yield {
            "source_key": entry.get("key"),
            "source_name": None,
            "stage": schema.STAGE_LISTING,
            "reason_type": entry.get("reason"),
            "reason": None,
            "size": entry.get("size"),
            "batch_id": None,
            "job_id": None,
        }
    for chunk in chunks:
        for stage, section, type_field in (
            (schema.STAGE_INGEST, "failed", "type"),
            (schema.STAGE_PROCESSING, "processing_failed", "log_type"),
        ):
            for entry in (chunk.manifest.get(section) or {}).get("files") or []:
                name = entry.get("file_name") or None
                yield {
                    "source_key": names.key(name),
                    "source_name": name,
                    "stage": stage,
                    "reason_type": entry.get(type_field),
                    "reason": entry.get("reason"),
                    "size": None,
                    "batch_id": chunk.batch_id,
                    "job_id": chunk.job_id,
                }


def _write(
    destination: Destination, relpath: str, table_schema: pa.Schema, batches: Iterable[pa.RecordBatch]
) -> None:
    with destination.open_atomic(relpath) as handle:
        writer = pq.ParquetWriter(handle, table_schema, compression=COMPRESSION)
        try:
            for batch in batches:
                writer.write_batch(batch, row_group_size=BATCH_ROWS)
        finally:
            writer.close()


def write_window_table(
    target: TableTarget,
    window: TableWindow,
    chunks: Sequence[ChunkOutput],
    skipped: Iterable[Mapping[str, Any]] = (),
) -> WrittenTable:
    """Write the window's predictions and failed objects under ``target.root``; return what was written."""
    destination = Destination(target.root, target.conn_id)
    names = _Names(target.names_are_keys)
    constants = {"window_start": window.start, "window_end": window.end}
    counts = {"rows": 0, "result_rows": 0, "failures": 0}

    def prediction_batches() -> Iterator[pa.RecordBatch]:
        pending = _Rows(schema.PREDICTIONS, constants)
        for chunk in chunks:
            for uri, position, row in read_chunk_rows(chunk, target.name_field):
                counts["result_rows"] += 1
                head = (names.key(row.source_name), row.source_name, row.frame_number, row.frame_timestamp)
                tail = (chunk.batch_id, chunk.job_id, uri, position)
                pending.rows.extend(_prediction_row(head, p, tail) for p in row.predictions)
                if len(pending.rows) >= BATCH_ROWS:
                    counts["rows"] += len(pending.rows)
                    yield pending.batch()
        counts["rows"] += len(pending.rows)
        yield pending.batch()

    def failure_batches() -> Iterator[pa.RecordBatch]:
        pending = _Rows(schema.FAILURES, constants)
        for record in _failure_records(chunks, skipped, names):
            pending.add_record(record)
        counts["failures"] = len(pending.rows)
        yield pending.batch()

    predictions_path = window_relpath(PREDICTIONS_TABLE, window.pipeline_id, window.start, window.end)
    failures_path = window_relpath(FAILURES_TABLE, window.pipeline_id, window.start, window.end)
    _write(destination, predictions_path, schema.PREDICTIONS, prediction_batches())
    _write(destination, failures_path, schema.FAILURES, failure_batches())
    return WrittenTable(
        root=destination.uri + "/",
        predictions_uri=destination.uri_of(predictions_path),
        failures_uri=destination.uri_of(failures_path),
        rows=counts["rows"],
        failure_rows=counts["failures"],
        result_rows=counts["result_rows"],
    )
