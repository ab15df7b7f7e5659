"""A job its ceiling stopped: the files it did not reach are accounted for, nothing twice."""

from __future__ import annotations

from collections import Counter

from include.roboflow_batch.export.inputs import CEILING_STOP_TYPE, ceiling_unprocessed, spend_summary
from include.roboflow_batch.export.manifest import ExportCounts, reconcile


def test_files_without_rows_are_unprocessed_by_the_ceiling_and_the_manifest_reconciles() -> None:
    names = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    rows = Counter({"a.jpg": 1, "b.jpg": 1})
    logged = [{"file_name": "c.jpg", "reason": "cannot decode", "log_type": "file-failed"}]
    unprocessed = ceiling_unprocessed(names, rows, logged)
    assert [entry["file_name"] for entry in unprocessed] == ["d.jpg"]
    assert (
        unprocessed[0]["log_type"] == CEILING_STOP_TYPE
        and "processingTimeoutSeconds" in unprocessed[0]["reason"]
    )
    counts = ExportCounts(
        media_type="images",
        expected=4,
        ingested_count=4,
        ingested_names=names,
        failed=[],
        processing_failed=[*logged, *unprocessed],
        rows=2,
        rows_by_name=rows,
        unnamed_rows=0,
    )
    checks, _ = reconcile(counts)
    assert checks["rows_match"] is True and checks["inputs_match"] is True


def test_spend_figures_arrive_as_a_dict_or_as_rendered_json() -> None:
    assert spend_summary({"credits": 1.5}) == {"credits": 1.5}
    assert spend_summary('{"credits": 1.5}') == {"credits": 1.5}
    assert spend_summary("None") is None and spend_summary("") is None and spend_summary(None) is None
