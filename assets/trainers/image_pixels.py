"""An image as every part of an image use case reads it: base64 (or raw) PNG/JPEG bytes → a small
grayscale grid in [0, 1] → its content hash. NumPy and Pillow (imported when an image is decoded):
the served model, the Spark cleaning (``mapInPandas``) and the loop's prepare hook share it, so an
image is the same grid, and the same record, on every path."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from typing import Any

import numpy as np

#: Every image is resized to this square grid (side, in pixels) before it is compared or learnt.
SIDE = 32
#: Grid values are rounded to this many decimals (the hash is then the same on every path).
DECIMALS = 4
#: Images larger than this many pixels are refused before decoding (a decompression bomb).
MAX_PIXELS = 40_000_000


class ImageError(ValueError):
    """Bytes that are not an image this use case can read; ``reason`` is the quarantine reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def image_bytes(value: Any) -> bytes:
    """The bytes of an image as a record carries it: base64 text (optionally a ``data:`` URL) or bytes."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if not isinstance(value, str) or not value.strip():
        raise ImageError("missing_image")
    text = value.split(",", 1)[1] if value.startswith("data:") else value
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ImageError("not_base64", str(exc)[:60]) from exc


def grid(data: bytes, side: int = SIDE) -> np.ndarray:
    """(side, side) float32 grayscale in [0, 1], rounded to :data:`DECIMALS`; ImageError if unreadable."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:  # Pillow itself only refuses above twice its limit
                raise ImageError("too_large", f"{width}x{height} pixels")
            image.load()
            small = image.convert("L").resize((side, side), Image.Resampling.BILINEAR)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError("too_large", str(exc)[:80]) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ImageError("not_an_image", str(exc)[:80]) from exc
    return np.round(np.asarray(small, dtype=np.float32) / 255.0, DECIMALS)


def content_hash(pixels: np.ndarray) -> str:
    """The image's identity by content: the same picture under another id (or re-encoded losslessly)."""
    return hashlib.sha1(np.round(pixels, DECIMALS).astype(np.float32).tobytes()).hexdigest()


def encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
