"""Checks an uploaded image before it goes to a vision endpoint: PNG or JPEG by magic bytes,
decodable by Pillow, within a size limit; returns its MIME type for `image_message`.

Does not resize or re-encode: a rejected image gets a message saying what to do instead.
"""
from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from server.errors import ServerError

MAX_IMAGE_BYTES = 10 * 1024 * 1024  # base64 in a JSON body grows it by a third
MAX_IMAGE_SIDE = 8192  # pixels; vision models downscale anyway, huge images only cost time
MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


class ImageRejected(ServerError):
    """The upload is not a PNG/JPEG image a vision model can be sent, or it is too large."""


def check_image(data: bytes, file_name: str = "the upload", max_bytes: int = MAX_IMAGE_BYTES) -> str:
    """The MIME type of a valid PNG/JPEG; raises ImageRejected with the reason otherwise."""
    if len(data) > max_bytes:
        raise ImageRejected(
            f"{file_name} is {len(data) / 1048576:.1f} MB; images up to {max_bytes / 1048576:.0f} MB "
            "can be sent. Save the chart at a lower resolution or as JPEG and upload it again.")
    mime = next((m for magic, m in MAGIC.items() if data.startswith(magic)), None)
    if mime is None:
        raise ImageRejected(f"{file_name} is not a PNG or JPEG image. Upload the chart as .png or .jpg.")
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            img.verify()  # reads the whole file: catches truncated or corrupt data
    except Image.DecompressionBombError:
        raise ImageRejected(f"{file_name} has too many pixels to decode safely. Scale the chart "
                            "down and upload it again.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise ImageRejected(f"{file_name} looks like {mime} but cannot be decoded ({e}). "
                            "It may be truncated; export the chart again.") from None
    if max(width, height) > MAX_IMAGE_SIDE:
        raise ImageRejected(f"{file_name} is {width}×{height} pixels; the limit is {MAX_IMAGE_SIDE} "
                            "pixels per side. Scale the chart down and upload it again.")
    return mime
