import pytest

from include.roboflow_batch.media import (
    MAX_IMAGE_BYTES,
    has_media_extension,
    size_limit,
    validate_media_type,
)


@pytest.mark.parametrize(
    "key", ["a.jpg", "b/C.JPG", "x.JpEg", "y.png", "z.webp", "w.bmp", "q.jp2", "d/e.dib"]
)
def test_image_extensions_match_case_insensitively(key: str) -> None:
    assert has_media_extension(key, "images")
    assert not has_media_extension(key, "videos")


@pytest.mark.parametrize("key", ["a.mp4", "b/C.MOV", "x.mkv", "y.webm", "z.3gp", "w.ogg"])
def test_video_extensions_match(key: str) -> None:
    assert has_media_extension(key, "videos")
    assert not has_media_extension(key, "images")


@pytest.mark.parametrize(
    "key", ["notes.txt", "noext", "dir.jpg/file", "archive.jpg.zip", "jpg", "a.gif", ".jpg", "dir/.png"]
)
def test_other_objects_are_not_media(key: str) -> None:
    assert not has_media_extension(key, "images")


def test_only_images_have_a_size_limit() -> None:
    assert size_limit("images") == MAX_IMAGE_BYTES == 20_971_520
    assert size_limit("videos") is None


def test_unknown_media_type_names_the_field() -> None:
    with pytest.raises(ValueError, match="media_type"):
        validate_media_type("audio")
