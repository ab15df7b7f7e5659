"""Where the table goes: beside the export destinations by default, one fixed root, Hive partitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from include.roboflow_batch.results_table.location import (
    TableRootError,
    check_table_root,
    default_table_root,
    is_inside,
    window_relpath,
)


@pytest.mark.parametrize(
    ("destination", "root"),
    [
        ("s3://vision-results/{pipeline}/{interval_start:%Y%m%dT%H%M}/", "s3://vision-results/tables/"),
        ("gs://b/out/{pipeline}-{interval_start:%Y%m%d}/", "gs://b/out/tables/"),
        ("file:///data/out/{pipeline}/", "file:///data/out/tables/"),
        ("results/{pipeline}/{interval_start:%Y%m%dT%H%M%S}/", "results/tables/"),
        ("s3://b/fixed/folder/", "s3://b/fixed/tables/"),
    ],
)
def test_the_default_root_is_beside_the_export_folders(destination: str, root: str) -> None:
    assert default_table_root(destination) == root


def test_a_bucket_placeholder_leaves_no_folder_to_put_the_table_in() -> None:
    with pytest.raises(TableRootError, match=r"export\.table_root"):
        default_table_root("s3://{pipeline}-results/{interval_start}/")


def test_a_configured_root_takes_no_placeholder() -> None:
    assert check_table_root("s3://lake/roboflow") == "s3://lake/roboflow/"
    with pytest.raises(TableRootError, match="no placeholder"):
        check_table_root("s3://lake/{pipeline}/")


def test_windows_are_partitioned_by_pipeline_and_the_start_date_in_utc() -> None:
    start = datetime(2026, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-2)))  # 01:30 UTC next day

    path = window_relpath("predictions", "cams", start, start + timedelta(hours=1))

    assert path == "predictions/pipeline=cams/date=2026-03-02/20260302T013000Z_20260302T023000Z.parquet"
    with pytest.raises(ValueError, match="unknown table"):
        window_relpath("other", "cams", start, datetime(2026, 1, 1, tzinfo=UTC))


def test_folders_inside_each_other() -> None:
    assert is_inside("s3://b/tables/x/", "s3://b/tables/")
    assert is_inside("s3://b/tables", "s3://b/tables/")
    assert not is_inside("s3://b/tables-2/", "s3://b/tables/")
