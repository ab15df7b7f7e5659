"""A job its ceiling stopped: the files it did not reach are accounted for, nothing twice."""

from __future__ import annotations

from collections import Counter

from include.roboflow_batch.export.inputs import CEILING_STOP_TYPE, ceiling_unprocessed
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


def test_each_chunk_reads_its_own_spend_figures_as_values() -> None:
    from types import SimpleNamespace

    from include.roboflow_batch.operators.export import RoboflowExportOperator

    def spend_of(returned: object, map_index: int) -> object:
        operator = RoboflowExportOperator(
            task_id="export", job_id="j", destination="file:///tmp/out/", spend_from="account_spend"
        )
        ti = SimpleNamespace(map_index=map_index, xcom_pull=lambda task_ids: returned)
        return operator._chunk_spend({"ti": ti})  # type: ignore[arg-type]

    jobs = {"jobs": [{"credits": 1.5}, {"credits": 0.0, "machine_seconds": 0.0}]}
    assert spend_of(jobs, 1) == {"credits": 0.0, "machine_seconds": 0.0}  # zero stays zero
    assert spend_of(jobs, -1) == {"credits": 1.5}  # an unmapped export is the one chunk
    assert spend_of(jobs, 2) is None
    assert spend_of(None, 0) is None  # the accounting was skipped
