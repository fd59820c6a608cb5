"""Gravity Spy PNG decoding, viridis inversion and glitch assembly, on the real shared PNGs."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from assets.gravityspy.images import (
    COLOURBAR_COLUMNS,
    COLOURBAR_ROWS,
    ENERGY_MAX,
    GRID_SHAPE,
    DecodeError,
    colour_indices,
    decode_png,
    plot_energy,
    read_rgb,
    try_decode,
    viridis_table,
)
from assets.gravityspy.layout import GRAVITYSPY_CLASSES, assemble, counts, parse_key

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "gravityspy"
BLIP = SHARED / "Blip" / "H1_uQiUCgOWOJ_spectrogram_1.0.png"
WHISTLE = SHARED / "Whistle" / "L1_zmIdpucyOG_spectrogram_2.0.png"


def test_embedded_viridis_is_matplotlibs() -> None:
    import matplotlib

    expected = np.round(matplotlib.colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255)
    assert (viridis_table() == expected.astype(np.uint8)).all()


def test_colour_bar_inverts_to_its_own_scale() -> None:
    """The image's own colour bar, read back through the inversion, runs from 25.5 (top) to 0."""
    pixels = read_rgb(BLIP.read_bytes())
    bar = pixels[COLOURBAR_ROWS[0] : COLOURBAR_ROWS[1], COLOURBAR_COLUMNS[0] : COLOURBAR_COLUMNS[1]]
    indices, foreign = colour_indices(bar)
    assert foreign == 0.0
    column = indices[:, indices.shape[1] // 2].astype(int)
    assert column[0] >= 253 and column[-1] <= 2
    assert (np.diff(column) <= 0).all()  # monotone from top to bottom


def test_blip_bright_pixel_is_near_the_colour_bar_top() -> None:
    energy = plot_energy(BLIP.read_bytes())
    assert energy.max() >= 0.95 * ENERGY_MAX
    row, col = np.unravel_index(energy.argmax(), energy.shape)
    # t = 0 is the middle of the time axis; the Blip's peak sits there, between 64 and 512 Hz.
    assert abs(col - energy.shape[1] / 2) < energy.shape[1] * 0.05
    assert energy.shape[0] * 0.3 < row < energy.shape[0] * 0.75
    assert np.median(energy) < 0.1 * ENERGY_MAX  # background is dark


def test_grid_keeps_shape_range_and_time_axis() -> None:
    grid = decode_png(BLIP.read_bytes())
    assert grid.shape == GRID_SHAPE and grid.dtype == np.float32
    assert np.isfinite(grid).all() and grid.min() >= 0 and grid.max() <= ENERGY_MAX
    assert abs(int(np.argmax(grid.max(axis=0))) - GRID_SHAPE[1] // 2) <= 2
    whistle = decode_png(WHISTLE.read_bytes())
    # A whistle lives high up (hundreds of Hz to 2 kHz): its energy is in the upper rows.
    top, bottom = whistle[: GRID_SHAPE[0] // 3], whistle[2 * GRID_SHAPE[0] // 3 :]
    assert top.max() > bottom.max()


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def decompression_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A ~60-byte PNG that declares a ``width`` x ``height`` RGB image (issue 22, item 1): Pillow
    refuses it with ``DecompressionBombError``, which nothing caught."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda raw: decompression_bomb(), "wrong_size"),
        (lambda raw: b"GIF89a" + raw[6:], "not_png"),
        (lambda raw: raw[: len(raw) // 2], "truncated"),
        (lambda raw: b"", "truncated"),
        (lambda raw: _png(Image.open(io.BytesIO(raw)).resize((400, 300))), "wrong_size"),
        (lambda raw: _png(Image.open(io.BytesIO(raw)).convert("L").convert("RGBA")), "unreadable_colours"),
    ],
)
def test_file_quarantine_reasons(make, reason: str) -> None:
    data = make(BLIP.read_bytes())
    outcome = try_decode(data)
    assert outcome.grid is None and outcome.reason == reason
    if data:
        with pytest.raises(DecodeError) as raised:
            decode_png(data)
        assert raised.value.reason == reason


def _files(rows: list[tuple[str, str | None]]) -> pd.DataFrame:
    frame = pd.DataFrame([{**parse_key(k), "key": k, "reason": r} for k, r in rows])
    return frame


def _glitch(folder: str, gid: str, bad: dict[str, str] | None = None) -> list[tuple[str, str | None]]:
    bad = bad or {}
    return [
        (f"gravityspy/{folder}/H1_{gid}_spectrogram_{v}.png", bad.get(v))
        for v in ("0.5", "1.0", "2.0", "4.0")
    ]


def test_glitch_assembly_reasons_and_counts() -> None:
    rows = (
        _glitch("Blip", "good1")
        + _glitch("unlabelled", "free1")
        + _glitch("Blip", "trunc1", {"1.0": "truncated"})
        + _glitch("Blip", "miss1")[:3]
        + _glitch("Not_A_Class", "odd1")
        + _glitch("Blip", "dup1")
        + _glitch("Whistle", "dup1")
        + [("gravityspy/Blip/notes_spectrogram.png", None)]
    )
    out = assemble(_files(rows), GRAVITYSPY_CLASSES)
    reasons = out.groupby("id", dropna=False)["reason"].apply(lambda s: sorted(set(s.dropna())))
    assert reasons["good1"] == [] and reasons["free1"] == []
    assert reasons["trunc1"] == ["missing_view", "truncated"]
    assert reasons["miss1"] == ["missing_view"]
    assert reasons["odd1"] == ["unknown_class"]
    assert reasons["dup1"] == ["duplicate_id"]
    assert out.loc[out["id"].isna(), "reason"].tolist() == ["bad_name"]
    assert out.loc[out["id"] == "free1", "label"].isna().all()
    summary = counts(out)
    assert summary["files_in"] == len(rows) == summary["files_kept"] + summary["files_quarantined"]
    assert summary["files_kept"] == 8 and summary["glitches_kept"] == 2
    assert summary["quarantined_duplicate_id"] == 8 and summary["quarantined_truncated"] == 1
