"""Gravity Spy spectrogram PNGs → normalised-energy grids: decode, crop, invert viridis, resample.

A Gravity Spy image is an 800×600 matplotlib figure: a title, axes with a log-frequency y axis
(8–2048 Hz) and a time x axis, the Omega-scan energy drawn with the viridis colour map, and a colour
bar labelled "Normalized energy" from 0 to 25.5. The classifier wants the energy, not the picture, so
each PNG is turned back into numbers:

1. decode with Pillow (a file that is not a PNG, is truncated or has another size is refused with
   its reason);
2. crop the plot area inside the axes' spines (fixed by the layout: the spines sit at rows 60 and
   540, columns 100 and 674; the pixel next to each spine is anti-aliased and left out);
3. map each pixel to the nearest of viridis's 256 colours (the images hold exact entries, so almost
   every pixel matches one exactly) and that entry to energy ``index / 255 * 25.5``; a plot area
   whose pixels are too far from viridis is ``unreadable_colours`` (another colour map, a photo);
4. resample by box averaging to a fixed grid (default 64×64). Rows are kept in the image's order,
   so row 0 is the top of the plot (2048 Hz) and the frequency axis stays logarithmic, as drawn;
   columns run forward in time.

Pure NumPy and Pillow: the served model, the Spark ingest (``mapInPandas``) and the tests share it.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: The four views of every glitch, by their duration in seconds, as in the file names.
VIEWS: tuple[str, ...] = ("0.5", "1.0", "2.0", "4.0")
#: Image size of every Gravity Spy spectrogram (width, height).
IMAGE_SIZE = (800, 600)
#: Plot area inside the spines: rows [top, bottom), columns [left, right) of the image.
PLOT_ROWS = (62, 539)
PLOT_COLUMNS = (102, 673)
#: Colour bar inside its spines (top = highest energy).
COLOURBAR_ROWS = (62, 539)
COLOURBAR_COLUMNS = (693, 719)
#: The colour bar's range: Gravity Spy draws every image with vmin=0, vmax=25.5.
ENERGY_MAX = 25.5
#: Default grid per view (frequency rows × time columns).
GRID_SHAPE = (64, 64)
#: A pixel farther than this (RGB Euclidean distance) from every viridis entry is not a viridis colour.
MAX_COLOUR_DISTANCE = 12.0
#: A plot area with more than this share of such pixels is unreadable.
MAX_FOREIGN_SHARE = 0.02
#: Energies are kept to this many decimals (so a grid, and its hash, is the same on every path).
DECIMALS = 3
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: matplotlib's viridis, 256 entries as RRGGBB (``matplotlib.colormaps["viridis"]`` rounded to 8 bits;
#: embedded so the served model needs no matplotlib, and checked against matplotlib by the tests).
_VIRIDIS_HEX = (
    "44015444025645045745055946075a46085c460a5d460b5e470d60470e61471063471164471365481467481668481769"
    "48186a481a6c481b6d481c6e481d6f481f70482071482173482374482475482576482677482878482979472a7a472c7a"
    "472d7b472e7c472f7d46307e46327e46337f463480453581453781453882443983443a83443b84433d84433e85423f85"
    "4240864241864142874144874045884046883f47883f48893e49893e4a893e4c8a3d4d8a3d4e8a3c4f8a3c508b3b518b"
    "3b528b3a538b3a548c39558c39568c38588c38598c375a8c375b8d365c8d365d8d355e8d355f8d34608d34618d33628d"
    "33638d32648e32658e31668e31678e31688e30698e306a8e2f6b8e2f6c8e2e6d8e2e6e8e2e6f8e2d708e2d718e2c718e"
    "2c728e2c738e2b748e2b758e2a768e2a778e2a788e29798e297a8e297b8e287c8e287d8e277e8e277f8e27808e26818e"
    "26828e26828e25838e25848e25858e24868e24878e23888e23898e238a8d228b8d228c8d228d8d218e8d218f8d21908d"
    "21918c20928c20928c20938c1f948c1f958b1f968b1f978b1f988b1f998a1f9a8a1e9b8a1e9c891e9d891f9e891f9f88"
    "1fa0881fa1881fa1871fa28720a38620a48621a58521a68522a78522a88423a98324aa8325ab8225ac8226ad8127ad81"
    "28ae8029af7f2ab07f2cb17e2db27d2eb37c2fb47c31b57b32b67a34b67935b77937b87838b9773aba763bbb753dbc74"
    "3fbc7340bd7242be7144bf7046c06f48c16e4ac16d4cc26c4ec36b50c46a52c56954c56856c66758c7655ac8645cc863"
    "5ec96260ca6063cb5f65cb5e67cc5c69cd5b6ccd5a6ece5870cf5773d05675d05477d1537ad1517cd2507fd34e81d34d"
    "84d44b86d54989d5488bd6468ed64590d74393d74195d84098d83e9bd93c9dd93ba0da39a2da37a5db36a8db34aadc32"
    "addc30b0dd2fb2dd2db5de2bb8de29bade28bddf26c0df25c2df23c5e021c8e020cae11fcde11dd0e11cd2e21bd5e21a"
    "d8e219dae319dde318dfe318e2e418e5e419e7e419eae51aece51befe51cf1e51df4e61ef6e620f8e621fbe723fde725"
)


class DecodeError(ValueError):
    """A PNG that cannot become an energy grid; ``reason`` is its quarantine reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@lru_cache(maxsize=1)
def viridis_table() -> np.ndarray:
    """(256, 3) uint8 RGB of viridis, index 0 = lowest energy."""
    raw = bytes.fromhex("".join(_VIRIDIS_HEX))
    return np.frombuffer(raw, dtype=np.uint8).reshape(256, 3).copy()


@lru_cache(maxsize=1)
def _packed_table() -> tuple[np.ndarray, np.ndarray]:
    """Viridis as sorted packed ``0xRRGGBB`` integers and their indices (for exact look-ups)."""
    table = viridis_table().astype(np.int64)
    packed = (table[:, 0] << 16) | (table[:, 1] << 8) | table[:, 2]
    order = np.argsort(packed)
    return packed[order], order


def read_rgb(data: bytes) -> np.ndarray:
    """(600, 800, 3) uint8 pixels of a Gravity Spy PNG, or :class:`DecodeError` with the reason."""
    from PIL import Image, UnidentifiedImageError

    if not data.startswith(PNG_SIGNATURE):
        raise DecodeError("not_png", "no PNG signature")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "PNG":
                raise DecodeError("not_png", f"format {image.format}")
            if image.size != IMAGE_SIZE:
                raise DecodeError("wrong_size", f"{image.size[0]}x{image.size[1]}, expected 800x600")
            image.load()
            rgb = image.convert("RGB")
    except DecodeError:
        raise
    except Image.DecompressionBombError as exc:  # a few bytes declaring a gigapixel image
        raise DecodeError("wrong_size", f"decompression bomb: {str(exc)[:80]}") from exc
    except UnidentifiedImageError as exc:  # a PNG signature, then nothing Pillow can read
        raise DecodeError("truncated", str(exc)[:80]) from exc
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow: "image file is truncated", bad CRC
        raise DecodeError("truncated", str(exc)[:80]) from exc
    return np.asarray(rgb)


def crop_plot(pixels: np.ndarray) -> np.ndarray:
    """The plot area of an image (inside the spines, anti-aliased edge left out)."""
    return pixels[PLOT_ROWS[0] : PLOT_ROWS[1], PLOT_COLUMNS[0] : PLOT_COLUMNS[1]]


def colour_indices(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """Each pixel's nearest viridis index (uint8, same shape without the channel axis), and the share of
    pixels that are no viridis colour at all (farther than :data:`MAX_COLOUR_DISTANCE`).

    Exact colours are looked up by their packed value (a binary search per pixel in the 256 entries);
    only the pixels that are not exact are grouped by colour and compared with every entry (an image
    has a few hundred such colours, so this is done once per colour, not per pixel).
    """
    flat = pixels.reshape(-1, 3).astype(np.int32)
    packed = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    table_packed, table_index = _packed_table()
    position = np.clip(np.searchsorted(table_packed, packed), 0, 255)
    exact = table_packed[position] == packed
    index = np.where(exact, table_index[position], 0)
    foreign = 0.0
    if not exact.all():
        colours, inverse = np.unique(packed[~exact], return_inverse=True)
        rgb = np.stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255], axis=1).astype(np.int64)
        d2 = ((rgb[:, None, :] - viridis_table()[None].astype(np.int64)) ** 2).sum(axis=2)
        index[~exact] = d2.argmin(axis=1)[inverse.reshape(-1)]
        foreign = float(
            (np.sqrt(d2.min(axis=1))[inverse.reshape(-1)] > MAX_COLOUR_DISTANCE).sum() / len(packed)
        )
    per_pixel = index.reshape(pixels.shape[:-1]).astype(np.uint8)
    return per_pixel, foreign


def to_energy(indices: np.ndarray) -> np.ndarray:
    """Viridis indices → normalised energy on the colour bar's scale (0 … 25.5), float32."""
    return (indices.astype(np.float32) * np.float32(ENERGY_MAX / 255.0)).astype(np.float32)


def resample(energy: np.ndarray, shape: tuple[int, int] = GRID_SHAPE) -> np.ndarray:
    """Box-average ``energy`` to ``shape`` (rows, columns); rounded to :data:`DECIMALS`."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(energy, dtype=np.float32), mode="F")
    small = np.asarray(image.resize((shape[1], shape[0]), Image.Resampling.BOX), dtype=np.float32)
    return np.round(np.clip(small, 0.0, ENERGY_MAX), DECIMALS).astype(np.float32)


def decode_png(data: bytes, shape: tuple[int, int] = GRID_SHAPE) -> np.ndarray:
    """One spectrogram PNG → its (rows, columns) energy grid, or :class:`DecodeError`."""
    pixels = read_rgb(data)
    indices, foreign = colour_indices(crop_plot(pixels))
    if foreign > MAX_FOREIGN_SHARE:
        raise DecodeError("unreadable_colours", f"{foreign:.1%} of the plot area is not viridis")
    return resample(to_energy(indices), shape)


def plot_energy(data: bytes) -> np.ndarray:
    """The full-resolution energy of the plot area (tests, the generator's round trip)."""
    return to_energy(colour_indices(crop_plot(read_rgb(data)))[0])


@dataclass(frozen=True)
class Decoded:
    """One file's outcome: its grid (flattened), or why not."""

    grid: np.ndarray | None
    reason: str | None = None
    detail: str = ""


def try_decode(data: bytes | None, shape: tuple[int, int] = GRID_SHAPE) -> Decoded:
    """:func:`decode_png` that reports instead of raising (an empty file is truncated)."""
    if not data:
        return Decoded(None, "truncated", "empty file")
    try:
        return Decoded(decode_png(data, shape).reshape(-1))
    except DecodeError as exc:
        return Decoded(None, exc.reason, exc.detail)


def view_hash(grid: np.ndarray) -> str:
    """A hash of one view's grid (as rounded float32)."""
    values = np.round(np.asarray(grid, dtype=np.float32), DECIMALS).astype(np.float32)
    return hashlib.sha1(values.tobytes()).hexdigest()


def combine_hashes(view_hashes: list[str]) -> str:
    """A glitch's content hash from its views' hashes, in view order (Spark computes the same with
    ``substring(sha1(concat_ws('|', ...)), 1, 16)``)."""
    return hashlib.sha1("|".join(view_hashes).encode()).hexdigest()[:16]


def content_hash(grids: list[np.ndarray]) -> str:
    """What makes two glitches the same glitch: a hash of their four grids, so a copy under another id,
    re-encoded PNGs or a record that came back through the stream all match."""
    return combine_hashes([view_hash(g) for g in grids])
