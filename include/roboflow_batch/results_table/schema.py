"""The two tables' columns and types: the stable schema documented in ``docs/results-table.md``.

Columns are only ever added at the end, never renamed, retyped or removed; ``SCHEMA_VERSION`` (in
every file's key-value metadata) counts such additions.
"""

from __future__ import annotations

import pyarrow as pa

SCHEMA_VERSION = "1"
VERSION_METADATA_KEY = b"roboflow.results_table.version"

_TIME = pa.timestamp("us", tz="UTC")
POINT = pa.struct([("x", pa.float64()), ("y", pa.float64())])
KEYPOINT = pa.struct(
    [
        ("x", pa.float64()),
        ("y", pa.float64()),
        ("confidence", pa.float64()),
        ("class_id", pa.int64()),
        ("class_name", pa.string()),
    ]
)

#: Hive partition keys: in each file's path (``pipeline=<id>/date=<YYYY-MM-DD>``), never in its columns.
PARTITION_KEYS = ("pipeline", "date")

# Where a record comes from: its window and the source object.
_WINDOW_FIELDS = [
    pa.field("window_start", _TIME),
    pa.field("window_end", _TIME, nullable=False),
    pa.field("source_key", pa.string()),
    pa.field("source_name", pa.string()),
]

PREDICTIONS = pa.schema(
    [
        *_WINDOW_FIELDS,
        pa.field("frame_number", pa.int64()),
        pa.field("frame_timestamp", pa.float64()),
        pa.field("output_name", pa.string()),
        pa.field("output_kind", pa.string()),
        pa.field("class_name", pa.string()),
        pa.field("class_id", pa.int64()),
        pa.field("confidence", pa.float64()),
        pa.field("x", pa.float64()),
        pa.field("y", pa.float64()),
        pa.field("width", pa.float64()),
        pa.field("height", pa.float64()),
        pa.field("detection_id", pa.string()),
        pa.field("points", pa.list_(POINT)),
        pa.field("keypoints", pa.list_(KEYPOINT)),
        pa.field("image_width", pa.int64()),
        pa.field("image_height", pa.int64()),
        pa.field("raw_json", pa.string()),
        pa.field("batch_id", pa.string()),
        pa.field("job_id", pa.string()),
        pa.field("result_file", pa.string()),
        pa.field("result_line", pa.int64()),
    ],
    metadata={VERSION_METADATA_KEY: SCHEMA_VERSION.encode()},
)

FAILURES = pa.schema(
    [
        *_WINDOW_FIELDS,
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason_type", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("batch_id", pa.string()),
        pa.field("job_id", pa.string()),
    ],
    metadata={VERSION_METADATA_KEY: SCHEMA_VERSION.encode()},
)

#: ``stage`` of a failed object: skipped while listing, refused while staging, or not processed.
STAGE_LISTING = "listing"
STAGE_INGEST = "ingest"
STAGE_PROCESSING = "processing"
