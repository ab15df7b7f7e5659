import re

import pytest

from include.roboflow_batch.references.naming import (
    MAX_NAME_LENGTH,
    NameTooLongError,
    key_for_name,
    name_for_key,
)

TRICKY_KEYS = [
    "photo.jpg",
    "cameras/north/2026/11/28/frame-0001.JPG",
    "with space/and  two.png",
    "ünïcödé/日本語/写真.jpeg",
    "emoji/🙂.webp",
    ".hidden.jpg",
    "dir/.hidden.jpg",
    "under_score/__double__.jpg",
    "a//b.jpg",
    "/leading-slash.jpg",
    "trailing/",
    "percent%20/plus+sign=eq&amp;.png",
    "quotes'\"back\\slash.bmp",
    "a_2Fb.jpg",
    "a__b.jpg",
    "a/b.jpg",
    "tab\tnewline\n.jpg",
]


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_round_trip_restores_the_key(key: str) -> None:
    assert key_for_name(name_for_key(key)) == key


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_names_are_safe_file_names(key: str) -> None:
    name = name_for_key(key)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", name)
    assert not name.startswith(".")
    assert name not in {".", ".."}


@pytest.mark.parametrize(
    ("key", "extension"),
    [("a/b/c.jpg", ".jpg"), ("x y/ü.PNG", ".PNG"), ("v/clip.mp4", ".mp4"), (".hidden.jpg", ".jpg")],
)
def test_extension_is_kept(key: str, extension: str) -> None:
    assert name_for_key(key).endswith(extension)


def test_distinct_keys_never_share_a_name() -> None:
    # Keys that naive flattening ("/" -> "__", dropping unsafe characters) would merge.
    keys = ["a/b.jpg", "a__b.jpg", "a_2Fb.jpg", "a_/b.jpg", "a/_b.jpg", "a b.jpg", "a_b.jpg", "a_20b.jpg"]
    names = [name_for_key(k) for k in keys]
    assert len(set(names)) == len(keys)


def test_nested_prefixes_stay_readable() -> None:
    assert name_for_key("cam/2026/11/img-1.jpg") == "cam__2026__11__img-1.jpg"


def test_too_long_a_name_is_refused_with_the_key() -> None:
    key = "d/" * 100 + "x.jpg"
    with pytest.raises(NameTooLongError, match=r"limit is 255"):
        name_for_key(key)
    assert len(name_for_key("x" * (MAX_NAME_LENGTH - 4) + ".jpg")) == MAX_NAME_LENGTH


@pytest.mark.parametrize("name", ["a_2fb.jpg", "a_ZZb.jpg", "a b.jpg", "a_", "_C3.jpg", ""])
def test_strings_that_are_not_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError):
        key_for_name(name)


def test_empty_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        name_for_key("")
