from __future__ import annotations

import re

import pytest

from include.roboflow_batch.api.ids import (
    derive_batch_id,
    derive_ingest_id,
    derive_job_id,
    validate_batch_id,
    validate_job_id,
)

VALID = re.compile(r"^[a-z0-9_-]+$")


@pytest.mark.parametrize("value", ["a", "batch_2026-11-28", "x" * 64, "0-_"])
def test_valid_batch_ids_pass(value: str) -> None:
    assert validate_batch_id(value) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "batch_id must not be empty"),
        ("x" * 65, "batch_id 'xxxxx.* is 65 characters long; Roboflow allows at most 64"),
        ("My Batch", r"batch_id 'My Batch' contains characters Roboflow does not accept \(' ', 'B', 'M'\)"),
        ("a/b", r"\('/'\)"),
        (42, "batch_id must be a string, got int 42"),
    ],
)
def test_invalid_batch_ids_say_what_is_wrong(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_batch_id(value)  # type: ignore[arg-type]


def test_job_ids_are_limited_to_20_characters() -> None:
    assert validate_job_id("j" * 20) == "j" * 20
    with pytest.raises(ValueError, match="job_id 'jjjjjjjjjjjjjjjjjjjjj' is 21 characters long"):
        validate_job_id("j" * 21)


def test_derived_ids_are_deterministic_valid_and_readable() -> None:
    parts = ("Hourly Pipeline (EU)", "2026-11-28T11:00:00+00:00", "2026-11-28T12:00:00+00:00")
    batch_id = derive_batch_id(*parts)
    job_id = derive_job_id(*parts)

    assert batch_id == derive_batch_id(*parts)
    assert job_id == derive_job_id(*parts)
    assert validate_batch_id(batch_id) and validate_job_id(job_id)
    assert batch_id.startswith("hourly-pipeline-eu-2026-11-28t11")
    assert job_id.startswith("hourly-pi")


@pytest.mark.parametrize(
    "parts",
    [("é" * 500,), ("日本語",), ("x" * 1000, "y" * 1000), ("---",), ("A", 3)],
)
def test_any_input_derives_a_valid_id(parts: tuple) -> None:
    for derive, limit in ((derive_batch_id, 64), (derive_job_id, 20)):
        derived = derive(*parts)
        assert VALID.match(derived) and len(derived) <= limit


def test_derived_ids_keep_part_boundaries_and_do_not_collide() -> None:
    assert derive_batch_id("a-b", "c") != derive_batch_id("a", "b-c")
    assert derive_job_id("x" * 100 + "1") != derive_job_id("x" * 100 + "2")
    job_ids = {
        derive_job_id("pipeline", f"2026-01-01T{h:02d}", str(m)) for h in range(24) for m in range(200)
    }
    assert len(job_ids) == 24 * 200


def test_ingest_ids_are_per_chunk_and_keep_the_chunk_readable() -> None:
    batch_id = derive_batch_id("p" * 80)
    ids = [derive_ingest_id(batch_id, "references", chunk) for chunk in range(3)]

    assert len(set(ids)) == 3
    assert all(VALID.match(i) and len(i) <= 64 for i in ids)
    assert ids[2].split("-")[-2] == "2"
    assert derive_ingest_id(batch_id, "references", 0) == ids[0]


def test_ingest_ids_need_a_valid_batch_id_and_some_input() -> None:
    with pytest.raises(ValueError, match="batch_id 'Bad'"):
        derive_ingest_id("Bad", 1)
    with pytest.raises(ValueError, match="at least one input"):
        derive_job_id()
    with pytest.raises(ValueError, match="strings or integers; input 0 is None"):
        derive_batch_id(None)  # type: ignore[arg-type]
