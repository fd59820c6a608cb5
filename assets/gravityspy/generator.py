"""Synthetic Gravity Spy glitches for scale: 800×600 PNGs in the training set's layout and look.

Each glitch is an event in physical units (time in seconds around t = 0, frequency in Hz) drawn by its
class's shape, over a noisy background, then rendered at the four durations (0.5, 1.0, 2.0, 4.0 s)
exactly where Gravity Spy draws it: a plot area inside spines at rows 60/540 and columns 100/674,
a log-frequency axis (about 10 Hz at the bottom to 2048 Hz at the top, 62.5 pixels an octave),
the viridis colour map over 0–25.5 and a colour bar at columns 691–720. Axes, ticks, labels and
the colour bar are drawn once per (detector, duration) with Pillow and reused, so a glitch costs its
energy map and four PNG encodings, not a matplotlib figure each.

Shapes (energy in colour-bar units):

``Blip``            a short (~10–30 ms) broadband teardrop, 30–500 Hz.
``Koi_Fish``        a brighter, wider blip reaching higher (30–1500 Hz), saturated at its core.
``Whistle``         a thin rising-then-falling arch at hundreds of Hz to 2 kHz, ~0.2–0.6 s long.
``Power_Line``      a steady line at 60 Hz (and a weaker 120 Hz) across the whole window.
``Scattered_Light`` stacked low-frequency arches (10–60 Hz) repeating through the window.
``Violin_Mode``     a steady line near 500 Hz.
``1080Lines``       a steady line at 1080 Hz.
``Low_Frequency_Burst`` a broad hump below 40 Hz lasting ~0.5–1.5 s.
``Tomte``           a short low-frequency (15–80 Hz) blob, shorter than a burst.
``No_Glitch``       background only.
"""

from __future__ import annotations

import io
import string
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

from assets.gravityspy.images import (
    COLOURBAR_COLUMNS,
    COLOURBAR_ROWS,
    ENERGY_MAX,
    IMAGE_SIZE,
    PLOT_COLUMNS,
    PLOT_ROWS,
    VIEWS,
    viridis_table,
)
from assets.gravityspy.layout import file_name

#: Spines (the pixel rows and columns of the axes' frame), as in the real images.
SPINE_ROWS = (60, 540)
SPINE_COLUMNS = (100, 674)
BAR_SPINE_COLUMNS = (691, 720)
#: Frequency of the top spine and pixels per octave of the log axis.
TOP_HZ = 2048.0
PIXELS_PER_OCTAVE = 62.5
#: Resolution the energy map is computed at before it is scaled up to the plot area.
_MAP_SHAPE = (160, 192)
IFOS = {"H1": "Hanford", "L1": "Livingston"}

Shape = Callable[[np.ndarray, np.ndarray, np.random.Generator, dict], np.ndarray]


def row_frequency(rows: np.ndarray) -> np.ndarray:
    """Frequency (Hz) at image row ``rows`` (the top spine is 2048 Hz)."""
    return TOP_HZ * 2.0 ** (-(rows - SPINE_ROWS[0]) / PIXELS_PER_OCTAVE)


def _gauss(x: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - centre) / width) ** 2)


def _blip(t, logf, rng, p) -> np.ndarray:
    width = p.setdefault("width", rng.uniform(0.006, 0.015))
    lo = np.log2(p.setdefault("lo", rng.uniform(30, 60)))
    hi = np.log2(p.setdefault("hi", rng.uniform(200, 500)))
    centre = (lo + hi) / 2
    spread = (hi - lo) / 2
    core = _gauss(logf, centre, spread * 0.6)
    peak = p.setdefault("peak", rng.uniform(18, 26))
    return peak * _gauss(t, p.setdefault("t0", rng.normal(0, 0.01)), width) * core


def _koi_fish(t, logf, rng, p) -> np.ndarray:
    width = p.setdefault("width", rng.uniform(0.02, 0.05))
    centre = np.log2(p.setdefault("centre", rng.uniform(80, 200)))
    body = _gauss(t, p.setdefault("t0", rng.normal(0, 0.01)), width * (1 + 0.4 * (logf - centre)))
    return 40.0 * body * _gauss(logf, centre + 1.0, 2.0)


def _whistle(t, logf, rng, p) -> np.ndarray:
    half = p.setdefault("half", rng.uniform(0.1, 0.3))
    top = np.log2(p.setdefault("top", rng.uniform(900, 1900)))
    depth = p.setdefault("depth", rng.uniform(0.8, 2.0))
    t0 = p.setdefault("t0", rng.normal(0, 0.03))
    u = np.clip((t - t0) / half, -1.5, 1.5)
    curve = top - depth * u**2
    inside = _gauss(u, 0, 0.7)
    return p.setdefault("peak", rng.uniform(10, 20)) * _gauss(logf, curve, 0.06) * inside


def _line(hz: float, strength: float = 14.0, width: float = 0.04) -> Shape:
    def shape(t, logf, rng, p) -> np.ndarray:
        level = p.setdefault("level", rng.uniform(0.7, 1.1) * strength)
        wobble = 1 + 0.15 * np.sin(2 * np.pi * t / p.setdefault("period", rng.uniform(0.3, 1.5)))
        return level * wobble * _gauss(logf, np.log2(hz), width)

    return shape


def _power_line(t, logf, rng, p) -> np.ndarray:
    return _line(60.0)(t, logf, rng, p) + 0.5 * _line(120.0)(t, logf, rng, dict(p))


def _scattered_light(t, logf, rng, p) -> np.ndarray:
    period = p.setdefault("period", rng.uniform(0.25, 0.6))
    top = np.log2(p.setdefault("top", rng.uniform(30, 60)))
    phase = ((t / period + p.setdefault("phase", rng.uniform(0, 1))) % 1.0) * 2 - 1
    arches = sum(_gauss(logf, top - k * 0.5 - 1.2 * phase**2, 0.08) * (1 - 0.25 * k) for k in range(3))
    return p.setdefault("peak", rng.uniform(10, 16)) * arches


def _low_frequency_burst(t, logf, rng, p) -> np.ndarray:
    width = p.setdefault("width", rng.uniform(0.25, 0.7))
    return p.setdefault("peak", rng.uniform(10, 18)) * _gauss(t, 0, width) * _gauss(logf, np.log2(18), 0.6)


def _tomte(t, logf, rng, p) -> np.ndarray:
    width = p.setdefault("width", rng.uniform(0.03, 0.08))
    centre = np.log2(p.setdefault("centre", rng.uniform(25, 50)))
    return p.setdefault("peak", rng.uniform(16, 24)) * _gauss(t, 0, width) * _gauss(logf, centre, 0.5)


def _no_glitch(t, logf, rng, p) -> np.ndarray:
    return np.zeros(np.broadcast(t, logf).shape)


SHAPES: dict[str, Shape] = {
    "Blip": _blip,
    "Koi_Fish": _koi_fish,
    "Whistle": _whistle,
    "Power_Line": _power_line,
    "Scattered_Light": _scattered_light,
    "Violin_Mode": _line(500.0, 12.0),
    "1080Lines": _line(1080.0, 12.0),
    "Low_Frequency_Burst": _low_frequency_burst,
    "Tomte": _tomte,
    "No_Glitch": _no_glitch,
}
DEFAULT_CLASSES: tuple[str, ...] = ("Blip", "Koi_Fish", "Whistle", "Power_Line", "Scattered_Light")


def energy_map(shape_name: str, duration: float, rng: np.random.Generator, params: dict) -> np.ndarray:
    """(477, 571) energies of the plot area for one view of a glitch (``params`` holds the glitch's drawn
    parameters, shared by its four views; the background noise is drawn per view)."""
    from PIL import Image

    rows, cols = _MAP_SHAPE
    y = np.linspace(PLOT_ROWS[0], PLOT_ROWS[1] - 1, rows)
    t = np.linspace(-duration / 2, duration / 2, cols)[None, :]
    logf = np.log2(row_frequency(y))[:, None]
    noise = rng.gamma(1.2, 0.9, size=(rows, cols))
    # Gravity Spy's whitened background: a little more energy at low frequency, smeared in time.
    noise = noise * (1 + 0.6 * (logf < np.log2(40)))
    noise = (noise + np.roll(noise, 1, axis=1) + np.roll(noise, -1, axis=1)) / 3
    energy = noise + SHAPES[shape_name](t, logf, rng, params)
    energy = np.clip(energy, 0.0, ENERGY_MAX).astype(np.float32)
    image = Image.fromarray(energy, mode="F")
    size = (PLOT_COLUMNS[1] - PLOT_COLUMNS[0], PLOT_ROWS[1] - PLOT_ROWS[0])
    return np.asarray(image.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def _tick_labels(duration: float) -> list[tuple[float, str]]:
    half = duration / 2
    return [(-half + k * half / 2, f"{-half + k * half / 2:g}") for k in range(5)]


@lru_cache(maxsize=16)
def frame(ifo: str, duration: float) -> bytes:
    """The static figure (white, axes, ticks, labels, colour bar) as raw RGBA bytes, once per view kind."""
    from PIL import Image, ImageDraw

    width, height = IMAGE_SIZE
    image = Image.new("RGBA", IMAGE_SIZE, (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    title = f"{IFOS.get(ifo, ifo)} - O1"
    draw.text((width * 0.48, 18), title, fill="black", font=_font(24), anchor="mt")
    top, bottom = SPINE_ROWS
    left, right = SPINE_COLUMNS
    draw.rectangle((left, top, right, bottom), outline="black")
    small = _font(15)
    for k in range(8):  # 2048 Hz down to 16 Hz
        row = top + k * PIXELS_PER_OCTAVE
        draw.line((left - 4, row, left, row), fill="black")
        draw.text((left - 7, row), f"{int(TOP_HZ / 2**k)}", fill="black", font=small, anchor="rm")
    for seconds, label in _tick_labels(duration):
        col = left + (seconds + duration / 2) / duration * (right - left)
        draw.line((col, bottom, col, bottom + 4), fill="black")
        draw.text((col, bottom + 8), label, fill="black", font=_font(18), anchor="mt")
    draw.text(((left + right) / 2, bottom + 30), "Time (s)", fill="black", font=_font(26), anchor="mt")
    label = Image.new("RGBA", (240, 34), (255, 255, 255, 0))
    ImageDraw.Draw(label).text((120, 17), "Frequency (Hz)", fill="black", font=_font(26), anchor="mm")
    rotated = label.rotate(90, expand=True)
    image.alpha_composite(rotated, (12, int((top + bottom) / 2 - 120)))
    table = viridis_table()
    bar_rows = COLOURBAR_ROWS[1] - COLOURBAR_ROWS[0]
    indices = np.round(np.linspace(255, 0, bar_rows)).astype(int)
    bar = np.repeat(table[indices][:, None, :], COLOURBAR_COLUMNS[1] - COLOURBAR_COLUMNS[0], axis=1)
    image.paste(Image.fromarray(bar, "RGB"), (COLOURBAR_COLUMNS[0], COLOURBAR_ROWS[0]))
    bar_left, bar_right = BAR_SPINE_COLUMNS
    draw.rectangle((bar_left, top, bar_right, bottom), outline="black")
    for value in range(0, 26, 5):
        row = bottom - value / ENERGY_MAX * (bottom - top)
        draw.line((bar_right, row, bar_right + 4, row), fill="black")
        draw.text((bar_right + 7, row), str(value), fill="black", font=small, anchor="lm")
    energy_label = Image.new("RGBA", (240, 30), (255, 255, 255, 0))
    ImageDraw.Draw(energy_label).text(
        (120, 15), "Normalized energy", fill="black", font=_font(20), anchor="mm"
    )
    image.alpha_composite(energy_label.rotate(90, expand=True), (752, int((top + bottom) / 2 - 120)))
    return image.tobytes()


def render_png(ifo: str, duration: float, energy: np.ndarray, compress_level: int = 1) -> bytes:
    """One spectrogram PNG: the static frame with ``energy`` drawn in viridis in its plot area."""
    from PIL import Image

    image = Image.frombytes("RGBA", IMAGE_SIZE, frame(ifo, duration))
    indices = np.clip(np.round(energy / ENERGY_MAX * 255), 0, 255).astype(np.uint8)
    plot = viridis_table()[indices]
    # The spine-adjacent pixel row/column is part of the plot too (the decoder leaves it out).
    full = np.pad(plot, ((1, 1), (1, 1), (0, 0)), mode="edge")
    image.paste(Image.fromarray(full, "RGB"), (PLOT_COLUMNS[0] - 1, PLOT_ROWS[0] - 1))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=compress_level)
    return out.getvalue()


def glitch_id(rng: np.random.Generator) -> str:
    alphabet = np.array(list(string.ascii_letters + string.digits))
    return "".join(rng.choice(alphabet, 10))


def glitch_pngs(shape_name: str, ifo: str, rng: np.random.Generator) -> dict[str, bytes]:
    """The four views of one generated glitch of class ``shape_name``, by duration."""
    params: dict = {}
    return {v: render_png(ifo, float(v), energy_map(shape_name, float(v), rng, params)) for v in VIEWS}


def write_glitches(
    out_dir: str | Path, glitches: int, classes: tuple[str, ...] = DEFAULT_CLASSES, seed: int = 0
) -> list[Path]:
    """``glitches`` glitches, classes in turn, as ``<out>/<Class>/<ifo>_<id>_spectrogram_<d>.png``."""
    unknown = [c for c in classes if c not in SHAPES]
    if unknown:
        raise ValueError(f"no generator shape for {unknown}; known: {sorted(SHAPES)}")
    rng = np.random.default_rng([seed, 12])
    out = Path(out_dir)
    paths: list[Path] = []
    for i in range(glitches):
        name = classes[i % len(classes)]
        ifo = "H1" if rng.random() < 0.5 else "L1"
        gid = glitch_id(rng)
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for view, data in glitch_pngs(name, ifo, rng).items():
            path = folder / file_name(ifo, gid, view)
            path.write_bytes(data)
            paths.append(path)
    return paths
