"""What the clean glitch table must satisfy, as Great Expectations expectations (pure functions).

Each check ``prepare``s one summary row per glitch (checking 4 × 4,096 grid cells one expectation
at a time would be absurd) and states its expectations over it: four views per glitch, every grid
finite and within the colour bar's range, classes in the known list, ids unique.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from assets.gravityspy.images import ENERGY_MAX, GRID_SHAPE
from assets.gravityspy.records import ENERGY_COLUMNS, ID_COLUMN

if TYPE_CHECKING:
    import pandas as pd

LABEL_COLUMN = "label"
CELLS = GRID_SHAPE[0] * GRID_SHAPE[1]


def _gx() -> Any:
    import great_expectations as gx

    return gx.expectations


def _grid_summary(value: Any) -> tuple[int, float, float, bool]:
    """(cells, min, max, all finite) of one stored grid (None: a missing view)."""
    if value is None:
        return 0, np.nan, np.nan, False
    grid = np.asarray(value, dtype=np.float64)
    if grid.size == 0:
        return 0, np.nan, np.nan, False
    finite = bool(np.isfinite(grid).all())
    return int(grid.size), float(np.nanmin(grid)), float(np.nanmax(grid)), finite


def prepare_views(frame: pd.DataFrame) -> pd.DataFrame:
    """Per glitch: how many of its four views hold a full grid."""
    import pandas as pd

    full = pd.DataFrame(
        {
            c: [_grid_summary(v)[0] == CELLS for v in frame[c]] if c in frame else False
            for c in ENERGY_COLUMNS
        },
        index=frame.index,
    )
    return pd.DataFrame({ID_COLUMN: frame[ID_COLUMN].astype(str), "full_views": full.sum(axis=1)})


def prepare_energies(frame: pd.DataFrame) -> pd.DataFrame:
    """Per glitch: the smallest and largest energy over its views, and whether all are finite."""
    import pandas as pd

    rows = []
    for values in zip(*(frame[c] for c in ENERGY_COLUMNS), strict=True):
        summaries = [_grid_summary(v) for v in values]
        rows.append(
            {
                "energy_min": min((s[1] for s in summaries), default=np.nan),
                "energy_max": max((s[2] for s in summaries), default=np.nan),
                "all_finite": all(s[3] for s in summaries),
            }
        )
    return pd.DataFrame(rows, index=frame.index)


@dataclass(frozen=True)
class GlitchCheck:
    name: str
    description: str
    prepare: Callable[[pd.DataFrame], pd.DataFrame] | None
    expectations: Callable[[pd.DataFrame, tuple[str, ...]], list[Any]]


def glitch_checks() -> list[GlitchCheck]:
    return [
        GlitchCheck(
            "gravityspy_four_views",
            "Every glitch has all four views (0.5, 1.0, 2.0, 4.0 s) as full grids.",
            prepare_views,
            lambda _f, _c: [
                _gx().ExpectColumnValuesToBeBetween(column="full_views", min_value=4, max_value=4)
            ],
        ),
        GlitchCheck(
            "gravityspy_energy_range",
            f"Every energy is finite and within the colour bar's range [0, {ENERGY_MAX}].",
            prepare_energies,
            lambda _f, _c: [
                _gx().ExpectColumnValuesToBeBetween(column="energy_min", min_value=0.0, max_value=ENERGY_MAX),
                _gx().ExpectColumnValuesToBeBetween(column="energy_max", min_value=0.0, max_value=ENERGY_MAX),
                _gx().ExpectColumnValuesToBeInSet(column="all_finite", value_set=[True]),
                _gx().ExpectColumnValuesToNotBeNull(column="energy_max"),
            ],
        ),
        GlitchCheck(
            "gravityspy_class_known",
            "Every labelled glitch's class is in the known class list (FLYWHEEL_GRAVITYSPY_CLASSES).",
            None,
            lambda _f, classes: [
                _gx().ExpectColumnValuesToNotBeNull(column=LABEL_COLUMN),
                _gx().ExpectColumnValuesToBeInSet(column=LABEL_COLUMN, value_set=list(classes)),
            ],
        ),
        GlitchCheck(
            "gravityspy_ids_unique",
            "Glitch ids are unique.",
            None,
            lambda _f, _c: [_gx().ExpectColumnValuesToBeUnique(column=ID_COLUMN)],
        ),
    ]
