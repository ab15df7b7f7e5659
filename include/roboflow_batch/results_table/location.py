"""Where the results table lives: one root for every pipeline, Hive-style partitions below it.

``<root>/predictions/pipeline=<id>/date=<YYYY-MM-DD>/<window>.parquet`` and the same under
``failures/``: one path (``<root>/predictions/``) reads every pipeline's whole history, and a
window always lands in the same file, so a re-run replaces it instead of adding rows. The date is
the window start's (UTC); a window that selected everything is dated by its end.
"""

from __future__ import annotations

from datetime import UTC, datetime

PREDICTIONS_TABLE = "predictions"
FAILURES_TABLE = "failures"
TABLES = (PREDICTIONS_TABLE, FAILURES_TABLE)
#: The default root's folder, beside the pipelines' export folders.
DEFAULT_ROOT_FOLDER = "tables"
_FILE_TIME = "%Y%m%dT%H%M%SZ"


class TableRootError(ValueError):
    """The table root cannot be used or derived; the message says what to set."""


def default_table_root(destination: str) -> str:
    """``tables/`` in the folder that holds the export destinations.

    That folder is the destination template's fixed part up to its first placeholder
    (``s3://results/{pipeline}/{interval_start}/`` -> ``s3://results/``), or the destination's parent
    when it has none.
    """
    if "{" in destination:
        head = destination.split("{", 1)[0]
        folder = head[: head.rfind("/") + 1]
    else:
        trimmed = destination.rstrip("/")
        folder = trimmed[: trimmed.rfind("/") + 1]
    if folder.endswith("://") or (folder == "" and "://" in destination):
        raise TableRootError(
            f"export.table_root: cannot derive a table root beside the destination {destination!r} "
            "(its bucket is a placeholder); set export.table_root to a fixed folder"
        )
    return f"{folder}{DEFAULT_ROOT_FOLDER}/"


def check_table_root(value: str) -> str:
    """A fixed folder: the table holds every window, so the root takes no placeholder."""
    if "{" in value or "}" in value:
        raise TableRootError(
            f"export.table_root takes no placeholder ({value!r}): the table partitions by pipeline and "
            "date itself"
        )
    return value if value.endswith("/") else value + "/"


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def window_file_name(start: datetime | None, end: datetime) -> str:
    first = _utc(start).strftime(_FILE_TIME) if start is not None else "all"
    return f"{first}_{_utc(end).strftime(_FILE_TIME)}.parquet"


def window_date(start: datetime | None, end: datetime) -> str:
    return _utc(start if start is not None else end).date().isoformat()


def window_relpath(table: str, pipeline_id: str, start: datetime | None, end: datetime) -> str:
    """The window's file under the root, e.g. ``predictions/pipeline=cams/date=2026-03-01/...parquet``."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    return f"{table}/pipeline={pipeline_id}/date={window_date(start, end)}/{window_file_name(start, end)}"


def is_inside(inner: str, outer: str) -> bool:
    """Whether folder URI ``inner`` is ``outer`` or below it."""
    return (inner.rstrip("/") + "/").startswith(outer.rstrip("/") + "/")
