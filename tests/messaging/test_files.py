"""The pure parts of the file service: content types, the allow-list, names and
descriptions; and the image checks, without a server."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from homer.errors import InvalidInput, TooLarge
from homer.messaging.files import clean_name, describe_file, media_type, type_allowed
from homer.messaging.images import inspect_image
from homer.store.records import FileRecord


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("image/PNG", "image/png"),
        ("text/plain; charset=utf-8", "text/plain"),
        ("  application/pdf ", "application/pdf"),
    ],
)
def test_a_content_type_is_kept_as_its_type_and_subtype(given: str, kept: str) -> None:
    assert media_type(given) == kept


@pytest.mark.parametrize("given", ["", "png", "image/", "/png", "image/*", "a b/c", "é/x"])
def test_what_is_not_a_content_type_is_invalid(given: str) -> None:
    with pytest.raises(InvalidInput):
        media_type(given)


def test_the_allow_list_takes_exact_types_and_type_patterns() -> None:
    patterns = ["image/png", "audio/*", " Video/MP4 "]
    assert type_allowed("image/png", patterns)
    assert type_allowed("audio/ogg", patterns)
    assert type_allowed("video/mp4", patterns)
    assert not type_allowed("image/svg+xml", patterns)
    assert not type_allowed("video/webm", patterns)
    assert type_allowed("anything/else", ["*/*"])
    assert not type_allowed("text/plain", [])


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("notes.txt", "notes.txt"),
        ("C:\\fakepath\\photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("   ", "file"),
        ("dir/", "file"),
        ("x" * 300, "x" * 255),
        ("résumé.pdf", "résumé.pdf"),
    ],
)
def test_a_name_is_its_last_segment_without_control_characters(given: str, kept: str) -> None:
    assert clean_name(given) == kept


def test_a_description_has_dimensions_only_for_images() -> None:
    plain = FileRecord(
        id="f1",
        uploader_id="u",
        name="a.txt",
        content_type="text/plain",
        size=3,
        blob_key="k" * 32,
        created_at=1.0,
    )
    assert describe_file(plain) == {
        "id": "f1",
        "name": "a.txt",
        "content_type": "text/plain",
        "size": 3,
        "thumbnail": False,
    }


def _image(kind: str, size: tuple[int, int], mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, kind)
    return out.getvalue()


@pytest.mark.parametrize(
    ("content_type", "data", "thumbnail_type"),
    [
        ("image/png", _image("PNG", (640, 320), "RGBA"), "image/png"),
        ("image/jpeg", _image("JPEG", (640, 320)), "image/jpeg"),
        ("image/gif", _image("GIF", (640, 320), "P"), "image/png"),
        ("image/webp", _image("WEBP", (640, 320)), "image/png"),
    ],
)
def test_each_image_type_is_measured_and_thumbnailed(
    content_type: str, data: bytes, thumbnail_type: str
) -> None:
    facts = inspect_image(data, content_type, max_pixels=10**6, edge=64)
    assert (facts.width, facts.height, facts.thumbnail_type) == (640, 320, thumbnail_type)
    assert facts.thumbnail is not None
    with Image.open(io.BytesIO(facts.thumbnail)) as small:
        assert small.size == (64, 32)
    assert inspect_image(data, content_type, max_pixels=10**6, edge=0).thumbnail is None


def test_an_image_over_the_pixel_cap_is_too_large() -> None:
    data = _image("PNG", (200, 100))
    with pytest.raises(TooLarge, match="200x100 pixels is over the limit of 19999"):
        inspect_image(data, "image/png", max_pixels=19_999, edge=64)
    assert inspect_image(data, "image/png", max_pixels=20_000, edge=64).width == 200


def test_a_thumbnail_is_turned_upright_by_its_exif_orientation() -> None:
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; show it rotated 90 degrees
    Image.new("RGB", (640, 320), "white").save(out, "JPEG", exif=exif)
    facts = inspect_image(out.getvalue(), "image/jpeg", max_pixels=10**6, edge=64)
    assert (facts.width, facts.height) == (640, 320)  # as stored
    assert facts.thumbnail is not None
    with Image.open(io.BytesIO(facts.thumbnail)) as small:
        assert small.size == (32, 64)  # as shown
