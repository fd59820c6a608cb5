"""The Gravity Spy landing layout, and which landed files make a glitch (pure pandas, no Spark).

``<landing>/gravityspy/<Class>/<ifo>_<id>_spectrogram_<duration>.png`` (labelled) and
``<landing>/gravityspy/unlabelled/<ifo>_<id>_spectrogram_<duration>.png``. A glitch is kept when all
four of its views decoded; otherwise every one of its files is quarantined with one reason:

- a file's own: ``not_png``, ``truncated``, ``wrong_size``, ``unreadable_colours`` (from
  :mod:`assets.gravityspy.images`), ``bad_name`` (not ``<ifo>_<id>_spectrogram_<duration>.png``);
- the glitch's: ``unknown_class`` (a class folder outside the known list: quarantined, not guessed),
  ``duplicate_id`` (the same id in two folders, e.g. two classes, or a view landed twice),
  ``missing_view`` (fewer than four good views; the good siblings of a bad file get this reason).

Files in = files kept + files quarantined, always.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from assets.gravityspy.images import VIEWS

if TYPE_CHECKING:  # pandas is imported where a table is assembled: loading definitions stays cheap
    import pandas as pd

USE_CASE = "gravityspy"
UNLABELLED = "unlabelled"
#: The 22 classes of the Gravity Spy training set v1d1 (the default known list).
GRAVITYSPY_CLASSES: tuple[str, ...] = (
    "1080Lines",
    "1400Ripples",
    "Air_Compressor",
    "Blip",
    "Chirp",
    "Extremely_Loud",
    "Helix",
    "Koi_Fish",
    "Light_Modulation",
    "Low_Frequency_Burst",
    "Low_Frequency_Lines",
    "No_Glitch",
    "None_of_the_Above",
    "Paired_Doves",
    "Power_Line",
    "Repeating_Blips",
    "Scattered_Light",
    "Scratchy",
    "Tomte",
    "Violin_Mode",
    "Wandering_Line",
    "Whistle",
)
_NAME = re.compile(r"^(?P<ifo>[A-Z]\d)_(?P<id>[A-Za-z0-9]+)_spectrogram_(?P<view>\d+\.\d+)\.png$")
#: Columns of the per-file table the assembly reads (``reason`` None: the file decoded).
FILE_COLUMNS = ("key", "folder", "ifo", "id", "view", "reason")


def known_classes(configured: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The configured class list (``FLYWHEEL_GRAVITYSPY_CLASSES``), else the 22 Gravity Spy classes."""
    return tuple(configured) if configured else GRAVITYSPY_CLASSES


def parse_key(key: str) -> dict[str, str | None]:
    """``folder``, ``ifo``, ``id``, ``view`` of a landed key (``<uc>/<folder>/<name>``); the name parts are
    None for a name outside the layout."""
    parts = key.split("/")
    folder = parts[-2] if len(parts) >= 2 else ""
    match = _NAME.match(parts[-1])
    if not match or match["view"] not in VIEWS:
        return {"folder": folder, "ifo": None, "id": None, "view": None}
    return {"folder": folder, "ifo": match["ifo"], "id": match["id"], "view": match["view"]}


def file_name(ifo: str, glitch_id: str, view: str) -> str:
    return f"{ifo}_{glitch_id}_spectrogram_{view}.png"


def assemble(files: pd.DataFrame, classes: tuple[str, ...]) -> pd.DataFrame:
    """Every file with its final ``reason`` (None: kept) and ``label`` (None: unlabelled).

    ``files`` has :data:`FILE_COLUMNS`; ``reason`` there is the file's own decoding outcome.
    """
    import pandas as pd

    out = files.loc[:, list(FILE_COLUMNS)].copy()
    out["reason"] = out["reason"].astype(object)
    out.loc[out["id"].isna() & out["reason"].isna(), "reason"] = "bad_name"
    named = out["id"].notna()
    out["label"] = out["folder"].where(out["folder"] != UNLABELLED)
    known = set(classes)
    unknown = named & out["label"].notna() & ~out["label"].isin(known)
    # Glitch-level reasons, strongest first: a file keeps its own reason when it has one.
    folders = out[named].groupby("id")["folder"].nunique()
    views = out[named].groupby(["id", "view"]).size()
    twice = set(views[views > 1].index.get_level_values(0))
    duplicate = named & (out["id"].map(folders).fillna(0).gt(1) | out["id"].isin(twice))
    unknown_ids = set(out.loc[unknown, "id"])
    good = named & out["reason"].isna()
    good_views = out[good].groupby("id")["view"].nunique()
    complete = set(good_views[good_views == len(VIEWS)].index)
    glitch_reason = pd.Series(None, index=out.index, dtype=object)
    glitch_reason[named & ~out["id"].isin(complete)] = "missing_view"
    glitch_reason[named & out["id"].isin(unknown_ids)] = "unknown_class"
    glitch_reason[duplicate] = "duplicate_id"
    own = out["reason"].notna()
    out.loc[~own, "reason"] = glitch_reason[~own]
    return out


def counts(assembled: pd.DataFrame) -> dict[str, int]:
    """Files in / kept / quarantined (and per reason), glitches kept; asserts in = kept + quarantined."""
    kept = assembled["reason"].isna()
    result = {
        "files_in": len(assembled),
        "files_kept": int(kept.sum()),
        "files_quarantined": int((~kept).sum()),
        "glitches_kept": int(assembled.loc[kept, "id"].nunique()),
        "glitches_quarantined": int(assembled.loc[~kept & assembled["id"].notna(), "id"].nunique()),
    }
    for reason, n in assembled.loc[~kept, "reason"].value_counts().items():
        result[f"quarantined_{reason}"] = int(n)
    if result["files_in"] != result["files_kept"] + result["files_quarantined"]:
        raise AssertionError(f"files in != kept + quarantined: {result}")
    return result
