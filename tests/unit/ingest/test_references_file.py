from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from include.roboflow_batch.ingest.references_file import ReferencesFileError, spool_references

SECRET = "X-Amz-Signature=deadbeef"


def _jsonl(count: int, url_tag: str = "a") -> bytes:
    lines = [
        json.dumps({"name": f"img-{i:06d}.jpg", "url": f"https://bucket.example/{i}.jpg?{url_tag}&{SECRET}"})
        for i in range(count)
    ]
    return ("\n".join(lines) + "\n").encode()


def _spool(data: bytes, tmp_path: Path, chunk_size: int = 20_000):
    return spool_references(io.BytesIO(data), "s3://refs/run.jsonl", tmp_path / "spool.jsonl", chunk_size)


def test_counts_and_chunks_at_the_20000_boundary(tmp_path: Path) -> None:
    exact = _spool(_jsonl(20_000), tmp_path)
    assert exact.count == 20_000
    assert [len(chunk) for _, chunk in exact.iter_chunks()] == [20_000]
    assert len(exact.chunk_fingerprints) == 1

    over = _spool(_jsonl(20_001), tmp_path)
    sizes = [(index, len(chunk)) for index, chunk in over.iter_chunks()]
    assert sizes == [(0, 20_000), (1, 1)]
    assert len(over.chunk_fingerprints) == 2


def test_blank_lines_are_not_references(tmp_path: Path) -> None:
    data = b'\n{"name": "a.jpg", "url": "https://h/a"}\n   \n{"name": "b.jpg", "url": "https://h/b"}'
    spool = _spool(data, tmp_path)
    assert spool.count == 2
    assert [r.name for _, chunk in spool.iter_chunks() for r in chunk] == ["a.jpg", "b.jpg"]


def test_fingerprints_follow_names_not_the_signed_urls(tmp_path: Path) -> None:
    first = _spool(_jsonl(30, url_tag="first-signing"), tmp_path, chunk_size=10)
    again = _spool(_jsonl(30, url_tag="second-signing"), tmp_path, chunk_size=10)
    assert first.chunk_fingerprints == again.chunk_fingerprints
    assert len(set(first.chunk_fingerprints)) == 3


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"{not json", "line 3: not valid JSON"),
        (b'["a.jpg", "https://h/a"]', "line 3: expected a JSON object"),
        (b'{"url": "https://h/a?' + SECRET.encode() + b'"}', "line 3: field 'name'"),
        (b'{"name": "x.jpg"}', "line 3: field 'url'"),
        (
            b'{"name": "x.jpg", "url": "ftp://h/x?' + SECRET.encode() + b'"}',
            "line 3: field 'url' must be an http",
        ),
        (b'{"name": "x.jpg", "url": "https://h/x"}\xff', "line 3: not UTF-8"),
    ],
)
def test_a_bad_line_names_the_file_and_line_and_never_the_url(
    tmp_path: Path, line: bytes, expected: str
) -> None:
    data = _jsonl(2) + line + b"\n" + _jsonl(1)
    with pytest.raises(ReferencesFileError) as caught:
        _spool(data, tmp_path)
    message = str(caught.value)
    assert message.startswith("s3://refs/run.jsonl, ")
    assert expected in message
    assert SECRET not in message


def test_duplicate_names_are_refused_with_both_lines(tmp_path: Path) -> None:
    data = _jsonl(3) + b'{"name": "img-000001.jpg", "url": "https://h/again"}\n'
    with pytest.raises(
        ReferencesFileError, match=r"line 4: duplicate name 'img-000001.jpg' \(first on line 2\)"
    ):
        _spool(data, tmp_path)


@pytest.mark.parametrize("name", ["a..b.jpg", "cam-1/2026/x.jpg", "..hidden.jpg", "x.y.z.png", "naïve.jpg"])
def test_relative_names_inside_the_folder_are_kept(tmp_path: Path, name: str) -> None:
    data = json.dumps({"name": name, "url": "https://h/x"}).encode() + b"\n"
    assert _spool(data, tmp_path).count == 1


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("..", "'..'"),
        ("x/../../y.jpg", "'..'"),
        ("x//y.jpg", "empty path segment"),
        ("x/./y.jpg", "'.'"),
        ("/abs/y.jpg", "absolute"),
        ("d:/y.jpg", "absolute"),
        ("x\\y.jpg", "backslash"),
        ("x\u0000.jpg", "control character"),
        ("x\n.jpg", "control character"),
    ],
)
def test_names_that_could_leave_a_folder_are_refused(tmp_path: Path, name: str, reason: str) -> None:
    data = _jsonl(1) + json.dumps({"name": name, "url": "https://h/x?" + SECRET}).encode() + b"\n"
    with pytest.raises(ReferencesFileError, match=f"line 2: name .* is refused: .*{reason}") as caught:
        _spool(data, tmp_path)
    assert SECRET not in str(caught.value)
