"""Reading the results table: the whole history as one Arrow dataset, or one window's file.

The dataset reads ``file://``, ``s3://`` and ``gs://`` roots through an Airflow connection (the
same filesystems the pipelines write with), with the partition keys typed once: ``pipeline`` is
text and ``date`` a date, whatever a pipeline id looks like. DuckDB, Polars and pandas query an
Arrow dataset directly.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from include.roboflow_batch.results_table.location import PREDICTIONS_TABLE, TABLES

PARTITIONING = ds.partitioning(pa.schema([("pipeline", pa.string()), ("date", pa.date32())]), flavor="hive")


def _filesystem_and_path(uri: str, conn_id: str | None) -> tuple[Any, str]:
    from airflow.sdk import ObjectStoragePath

    location = ObjectStoragePath(uri, conn_id=conn_id)
    return location.fs, location.path


def open_table(root: str, table: str = PREDICTIONS_TABLE, conn_id: str | None = None) -> ds.Dataset:
    """Every window of every pipeline in ``table`` (``predictions`` or ``failures``) under ``root``.

    ``root`` is the table root (``export.table_root``) or the table's own folder
    (``<root>/predictions/``, the ``table.uri`` of a results Asset event).
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    folder = root.rstrip("/")
    if not folder.endswith(f"/{table}"):
        folder = f"{folder}/{table}"
    filesystem, path = _filesystem_and_path(folder, conn_id)
    # Hidden files (a window's file being written) and folders starting with "_" are skipped.
    return ds.dataset(path, filesystem=filesystem, format="parquet", partitioning=PARTITIONING)


def read_window_file(uri: str, conn_id: str | None = None, columns: list[str] | None = None) -> pa.Table:
    """One window's file (``table.file`` of a results Asset event), all columns or ``columns``."""
    filesystem, path = _filesystem_and_path(uri, conn_id)
    with filesystem.open(path, "rb") as handle:
        return pq.read_table(handle, columns=columns)
