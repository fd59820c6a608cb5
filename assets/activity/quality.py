"""What a clean activity windows table must satisfy, as Great Expectations expectations.

Plain functions (no Dagster): the asset checks on ``activity_windows`` and the generator's tests use
the same ones, so generated windows are held to exactly the rules real windows are.

Each check is ``prepare`` (derived per-window columns: checking 600 signal columns one expectation
at a time would cost GX 600 passes) and ``expectations`` over the prepared frame.

Ranges are the full scale of the watch's sensors (``layouts.MAX_ABS_*``); a value outside is a unit
or parsing error. When the range check fails, :func:`range_message` says which value was largest and
whether the data would fit if it were m/s² or deg/s: the usual cause is a watch that records in those
units without ``activity_sensors.json`` saying so.

The check catalogue (``window_checks``) is read when the code location loads, so pandas and Great
Expectations are imported inside the functions that use them, when a check runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assets.activity.layouts import (
    LABEL_COLUMN,
    MAX_ABS_ACCELERATION_G,
    MAX_ABS_ROTATION_RAD_S,
    WINDOW_SIGNALS,
    WINDOW_STEPS,
)
from assets.activity.units import ACCELERATION_UNITS, ROTATION_UNITS, SENSORS_FILE

if TYPE_CHECKING:
    import pandas as pd


def _expectations() -> Any:
    """``great_expectations.expectations`` (imported on first use)."""
    import great_expectations as gx

    return gx.expectations


#: Share of windows allowed to miss their stamp (none) and, per window, share of missing signal values.
MAX_SIGNAL_NULL_SHARE = 0.0
#: A class name: printable, no surrounding blanks, at most 64 characters.
LABEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _/&().+-]{0,62}[A-Za-z0-9)]?$"


def _signal_columns(prefix: str) -> list[str]:
    return [f"{s}_{i}" for s in WINDOW_SIGNALS if s.startswith(prefix) for i in range(1, WINDOW_STEPS + 1)]


def prepare_ranges(frame: pd.DataFrame) -> pd.DataFrame:
    """Largest absolute acceleration and rotation value in each window."""
    import pandas as pd

    return pd.DataFrame(
        {
            "max_abs_user_acceleration": frame[_signal_columns("user_acceleration")].abs().max(axis=1),
            "max_abs_rotation_rate": frame[_signal_columns("rotation_rate")].abs().max(axis=1),
        }
    )


def expect_ranges(_frame: pd.DataFrame) -> list[Any]:
    return [
        _expectations().ExpectColumnValuesToBeBetween(
            column="max_abs_user_acceleration", min_value=0, max_value=MAX_ABS_ACCELERATION_G
        ),
        _expectations().ExpectColumnValuesToBeBetween(
            column="max_abs_rotation_rate", min_value=0, max_value=MAX_ABS_ROTATION_RAD_S
        ),
    ]


def range_message(prepared: pd.DataFrame) -> str | None:
    """Why the range check failed, from :func:`prepare_ranges`' frame; None when every value is in range.

    Names the largest value of each signal out of range and, when dividing by the unit factor would
    bring it into range, the declaration that would: the hint the bare expectation cannot give.
    """
    limits = (
        ("max_abs_user_acceleration", "user acceleration", MAX_ABS_ACCELERATION_G, "g", "acceleration_unit",
         "m/s2", ACCELERATION_UNITS["m/s2"]),
        ("max_abs_rotation_rate", "rotation rate", MAX_ABS_ROTATION_RAD_S, "rad/s", "rotation_unit",
         "deg/s", ROTATION_UNITS["deg/s"]),
    )  # fmt: skip
    problems, hints = [], {}
    for column, what, limit, unit, key, other, factor in limits:
        largest = prepared[column].max() if len(prepared) else None
        if largest is None or not largest > limit:
            continue
        problems.append(
            f"largest |{what}| seen is {largest:.6g}, above the {limit:g} {unit} a watch measures"
        )
        if largest * factor <= limit:
            hints[key] = other
    if not problems:
        return None
    if hints:
        shown = ", ".join(f'"{k}": "{v}"' for k, v in hints.items())
        advice = f"the values fit {' and '.join(hints.values())}: {{{shown}}}"
    else:
        advice = 'allowed: "acceleration_unit": "g" or "m/s2", "rotation_unit": "rad/s" or "deg/s"'
    return (
        "; ".join(problems)
        + ". If the watch records in other units (Android watches report m/s²), declare them in"
        + f" <landing>/activity/{SENSORS_FILE} ({advice}) and ingest the files again."
    )


def prepare_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Seconds from each window's predecessor of the same participant, in file order.

    File order is ``source_file``/``line`` where known (window files); windows built from raw rows
    carry no line and are ordered by stamp, their raw rows having been checked for repeated stamps
    at cleaning. A value <= 0 means a stamp that did not increase.
    """
    import pandas as pd

    order = [c for c in ("participant", "source_file", "line") if c in frame.columns]
    ordered = frame.sort_values([*order, "stamp"], kind="stable", na_position="last")
    stamps = pd.to_datetime(ordered["stamp"])
    group = ordered["participant"] if "participant" in ordered else pd.Series(0, index=ordered.index)
    gaps = stamps.groupby(group.to_numpy()).diff().dt.total_seconds()
    return pd.DataFrame({"seconds_since_previous": gaps.dropna().to_numpy()})


def expect_order(_frame: pd.DataFrame) -> list[Any]:
    return [
        _expectations().ExpectColumnValuesToBeBetween(
            column="seconds_since_previous", min_value=0, strict_min=True
        )
    ]


def expect_labels(known: Sequence[str] | None) -> Callable[[pd.DataFrame], list[Any]]:
    """Labels in ``known`` when a label list is configured (e.g. ``activity_mapping.csv``), otherwise
    well-formed class names: class labels come from the data, so an unknown *shape* is the error."""

    def build(_frame: pd.DataFrame) -> list[Any]:
        if known:
            return [_expectations().ExpectColumnValuesToBeInSet(column=LABEL_COLUMN, value_set=sorted(known))]
        return [_expectations().ExpectColumnValuesToMatchRegex(column=LABEL_COLUMN, regex=LABEL_PATTERN)]

    return build


def prepare_nulls(frame: pd.DataFrame) -> pd.DataFrame:
    """Per window: its stamp, its label and the share of its 600 signal values that are missing."""
    import numpy as np
    import pandas as pd

    signals = frame[_signal_columns("")]
    return pd.DataFrame(
        {
            "stamp": frame["stamp"],
            LABEL_COLUMN: frame[LABEL_COLUMN],
            "signal_null_share": signals.isna().to_numpy().mean(axis=1) if len(frame) else np.array([]),
        }
    )


def expect_nulls(_frame: pd.DataFrame) -> list[Any]:
    return [
        _expectations().ExpectColumnValuesToNotBeNull(column="stamp"),
        _expectations().ExpectColumnValuesToNotBeNull(column=LABEL_COLUMN),
        _expectations().ExpectColumnValuesToBeBetween(
            column="signal_null_share", min_value=0, max_value=MAX_SIGNAL_NULL_SHARE
        ),
    ]


@dataclass(frozen=True)
class WindowCheck:
    name: str
    description: str
    prepare: Callable[[pd.DataFrame], pd.DataFrame]
    expectations: Callable[[pd.DataFrame], list[Any]]
    #: Turns the prepared frame of a failed check into a message saying why and what to do.
    explain: Callable[[pd.DataFrame], str | None] | None = None


def window_checks(known_labels: Sequence[str] | None = None) -> list[WindowCheck]:
    return [
        WindowCheck(
            "activity_sensor_ranges",
            f"|user acceleration| <= {MAX_ABS_ACCELERATION_G} g and |rotation rate| <= "
            f"{MAX_ABS_ROTATION_RAD_S} rad/s in every window.",
            prepare_ranges,
            expect_ranges,
            range_message,
        ),
        WindowCheck(
            "activity_stamps_increasing",
            "Window stamps strictly increase per participant, in file order.",
            prepare_order,
            expect_order,
        ),
        WindowCheck(
            "activity_labels_known",
            "Labels are in the configured label list (activity_mapping.csv), else well-formed names.",
            lambda frame: frame[[LABEL_COLUMN]],
            expect_labels(known_labels),
        ),
        WindowCheck(
            "activity_null_rates",
            "No window misses its stamp, label or any of its 600 signal values.",
            prepare_nulls,
            expect_nulls,
        ),
    ]
