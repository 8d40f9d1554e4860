"""What is checked and made of an uploaded image: that its bytes are the type it
claims, its dimensions, and a thumbnail.

Everything here is synchronous and CPU-bound (Pillow decodes): the file service
runs it in a worker thread, never on the event loop. A file whose bytes are not
the type it was declared as is :class:`~homer.errors.InvalidInput`; an image with
more pixels than the cap is :class:`~homer.errors.TooLarge`, found from its header
before anything is decoded, and Pillow's own decompression-bomb warning is an
error too, so a small file that claims enormous dimensions never costs the memory
it claims.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from homer.errors import InvalidInput, TooLarge

__all__ = ["IMAGE_FORMATS", "ImageFacts", "inspect_image"]

#: The content types checked as images, with the one Pillow format each must be.
IMAGE_FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
}

#: What Pillow raises for bytes it cannot read as the format it was told.
_UNREADABLE = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError)


@dataclass(frozen=True, slots=True)
class ImageFacts:
    width: int
    height: int
    #: The thumbnail's bytes and content type; ``None`` when none was asked for.
    thumbnail: bytes | None = None
    thumbnail_type: str | None = None


def inspect_image(data: bytes, content_type: str, *, max_pixels: int, edge: int) -> ImageFacts:
    """Check that ``data`` is a whole image of ``content_type`` (one of
    :data:`IMAGE_FORMATS`) with at most ``max_pixels`` pixels, and make a thumbnail
    whose longest edge is ``edge`` (none for 0)."""
    expected = IMAGE_FORMATS[content_type]
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=[expected]) as image:
                width, height = image.size
                _check_pixels(width, height, max_pixels)
                image.load()  # the whole image decodes: a truncated file is refused
                if edge == 0:
                    return ImageFacts(width, height)
                thumbnail, kind = _thumbnail(image, expected, edge)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            # Pillow's own cap, met before ours (Image.open checks it): as ours.
            raise TooLarge(f"the image is over the limit of {max_pixels} pixels") from None
        except _UNREADABLE:
            raise InvalidInput(f"the file is not a readable {expected} image") from None
    return ImageFacts(width, height, thumbnail, kind)


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise TooLarge(
            f"an image of {width}x{height} pixels is over the limit of {max_pixels} pixels"
        )


def _thumbnail(image: Image.Image, source: str, edge: int) -> tuple[bytes, str]:
    """A JPEG's thumbnail as a JPEG, any other's as a PNG (transparency kept), turned
    the way its EXIF orientation says."""
    small = ImageOps.exif_transpose(image)
    small.thumbnail((edge, edge))
    out = io.BytesIO()
    if source == "JPEG":
        small.convert("RGB").save(out, "JPEG", quality=85)
        return out.getvalue(), "image/jpeg"
    if small.mode not in ("RGB", "RGBA", "L", "LA", "P"):
        small = small.convert("RGBA")
    small.save(out, "PNG", optimize=False)
    return out.getvalue(), "image/png"
