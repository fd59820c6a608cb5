"""An image record as the image kit's loop reads it (pure: the scorer and the annotation page both
use it): the image must decode, and ``content_key`` (its grid's hash) is added, which is how the holdout
recognises the same image under another id."""

from __future__ import annotations

from typing import Any

from assets.trainers.image_pixels import content_hash, grid, image_bytes


def stream_record(record: dict[str, Any]) -> dict[str, Any]:
    """The loop's ``prepare`` hook: the record with ``content_key``, or ``ValueError`` with the reason
    (``missing_image``, ``not_base64``, ``not_an_image``, ``too_large``): dead-lettered."""
    return {**record, "content_key": content_hash(grid(image_bytes(record.get("image"))))}
