"""Units of the landed smartwatch signals, and conversion to the canonical ones (g, rad/s).

The CASAS watches (Apple) report user acceleration in g and rotation rate in rad/s; Android watches
report m/s² and often deg/s. The range checks and the features assume the canonical units, so
``<landing>/activity/activity_sensors.json`` declares what the landed files carry::

    {"acceleration_unit": "m/s2", "rotation_unit": "deg/s"}

(both optional: default ``g`` and ``rad/s``). Ingest converts every file to the canonical units; the
clean windows keep the declared units in two columns (:data:`SOURCE_UNIT_COLUMNS`), so the model
trained on them knows that the records on ``activity.records``, which come from the same watches,
arrive in those units, and converts them before computing features. Attitude (yaw, pitch, roll) and
location are not converted.

Plain module (no Dagster, no Spark); pandas is imported where frames are converted, so the
definitions module can parse the declaration cheaply.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

SENSORS_FILE = "activity_sensors.json"
#: Standard gravity (m/s² per g), as defined by the CGPM.
STANDARD_GRAVITY = 9.80665
#: Allowed declarations → factor that turns a value in that unit into the canonical unit.
ACCELERATION_UNITS: dict[str, float] = {"g": 1.0, "m/s2": 1.0 / STANDARD_GRAVITY}
ROTATION_UNITS: dict[str, float] = {"rad/s": 1.0, "deg/s": math.pi / 180.0}
#: Columns of the clean windows: the units the watch recorded in (the values are canonical).
SOURCE_UNIT_COLUMNS = ("source_acceleration_unit", "source_rotation_unit")
#: Signal columns of every layout: window steps (``user_acceleration_x_17``), raw rows
#: (``rotation_rate_y``) and feature files (``user_acceleration_z_mean``, ``rotation_magnitude_std``).
_ACCELERATION = re.compile(r"^(user_acceleration_[xyz]|acceleration_magnitude)(_\d+|_mean|_std)?$")
_ROTATION = re.compile(r"^(rotation_rate_[xyz]|rotation_magnitude)(_\d+|_mean|_std)?$")


@dataclass(frozen=True)
class SensorUnits:
    """The units signals are in; the canonical ones by default."""

    acceleration: str = "g"
    rotation: str = "rad/s"

    def __post_init__(self) -> None:
        if self.acceleration not in ACCELERATION_UNITS:
            raise ValueError(
                f"acceleration_unit must be one of {sorted(ACCELERATION_UNITS)}, got {self.acceleration!r}"
            )
        if self.rotation not in ROTATION_UNITS:
            raise ValueError(f"rotation_unit must be one of {sorted(ROTATION_UNITS)}, got {self.rotation!r}")

    @property
    def is_canonical(self) -> bool:
        return self == CANONICAL

    def factor(self, column: str) -> float | None:
        """What a value of ``column`` is multiplied by to reach the canonical unit; None: not a signal."""
        if _ACCELERATION.match(column):
            return ACCELERATION_UNITS[self.acceleration]
        if _ROTATION.match(column):
            return ROTATION_UNITS[self.rotation]
        return None

    def factors(self, columns: Iterable[str]) -> dict[str, float]:
        """The signal columns among ``columns`` that need converting, with their factors."""
        found = {c: self.factor(c) for c in columns}
        return {c: f for c, f in found.items() if f is not None and f != 1.0}

    def describe(self) -> str:
        """The conversion in words, for run metadata."""
        if self.is_canonical:
            return "none: signals landed in g and rad/s"
        parts = []
        if self.acceleration != CANONICAL.acceleration:
            factor = ACCELERATION_UNITS[self.acceleration]
            parts.append(f"acceleration {self.acceleration} → g (× {factor:.6g})")
        if self.rotation != CANONICAL.rotation:
            parts.append(f"rotation rate {self.rotation} → rad/s (× {ROTATION_UNITS[self.rotation]:.6g})")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, str]:
        return {"acceleration_unit": self.acceleration, "rotation_unit": self.rotation}


CANONICAL = SensorUnits()


def parse_sensor_units(text: str) -> SensorUnits:
    """The declaration in ``activity_sensors.json``; ValueError naming the allowed values otherwise.

    Unknown keys are refused too: a misspelt ``acceleration_units`` would otherwise silently leave
    the data in the wrong units.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc})") from exc
    allowed = {"acceleration_unit": ACCELERATION_UNITS, "rotation_unit": ROTATION_UNITS}
    if not isinstance(data, dict):
        raise ValueError(f"must be a JSON object with keys {sorted(allowed)}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValueError(f"unknown keys {unknown}; allowed: {sorted(allowed)}")
    for name, units in allowed.items():
        if name in data and data[name] not in units:
            raise ValueError(f"{name} must be one of {sorted(units)}, got {data[name]!r}")
    return SensorUnits(data.get("acceleration_unit", "g"), data.get("rotation_unit", "rad/s"))


def _scaled(frame: pd.DataFrame, factors: dict[str, float], rows: pd.Series | None = None) -> pd.DataFrame:
    """``frame`` with each column in ``factors`` multiplied (only in ``rows`` when given).

    Records arrive as JSON, so values may be strings or None: converted columns are coerced to
    numbers first (what :func:`features.window_features` does anyway).
    """
    import pandas as pd

    present = {c: f for c, f in factors.items() if c in frame.columns}
    if not present:
        return frame
    values = frame[list(present)]
    if not all(pd.api.types.is_numeric_dtype(t) for t in values.dtypes):
        values = values.apply(pd.to_numeric, errors="coerce")
    factor = pd.Series(present)
    out = frame.copy()
    if rows is None:
        out[list(present)] = values * factor
    else:
        mask = rows.to_numpy(dtype=bool)
        out[list(present)] = values
        out.loc[mask, list(present)] = values[mask] * factor
    return out


def to_canonical(frame: pd.DataFrame, units: SensorUnits) -> pd.DataFrame:
    """Signals of ``frame`` (in ``units``) in g and rad/s; other columns as they are."""
    if units.is_canonical:
        return frame
    return _scaled(frame, units.factors(frame.columns))


def from_canonical(frame: pd.DataFrame, units: SensorUnits, rows: pd.Series | None = None) -> pd.DataFrame:
    """Signals of ``frame`` (in g and rad/s) in ``units``: how the watch would have sent them."""
    if units.is_canonical:
        return frame
    return _scaled(frame, {c: 1.0 / f for c, f in units.factors(frame.columns).items()}, rows)


def _converted_rows(frame: pd.DataFrame) -> pd.Series:
    """Rows that went through ingest (their signals are canonical): they carry their source units.
    Others, such as annotated records, are records as they arrived."""
    import pandas as pd

    if not set(SOURCE_UNIT_COLUMNS) <= set(frame.columns):
        return pd.Series(False, index=frame.index)
    return frame[list(SOURCE_UNIT_COLUMNS)].notna().all(axis=1)


def table_units(frame: pd.DataFrame) -> SensorUnits:
    """The units the watches of a clean windows table record in (canonical if it does not say).

    One model serves one kind of watch: a table whose files were ingested under different
    declarations is refused (re-ingest them after changing ``activity_sensors.json``).
    """
    if not set(SOURCE_UNIT_COLUMNS) <= set(frame.columns):
        return CANONICAL
    converted = frame[_converted_rows(frame)]
    declared = sorted({tuple(row) for row in converted[list(SOURCE_UNIT_COLUMNS)].itertuples(index=False)})
    if not declared:
        return CANONICAL
    if len(declared) > 1:
        raise ValueError(
            f"windows ingested under different {SENSORS_FILE} declarations {declared}: "
            "re-ingest the files so that one declaration applies"
        )
    return SensorUnits(*declared[0])


def training_windows(frame: pd.DataFrame) -> tuple[pd.DataFrame, SensorUnits]:
    """A training table with every row's signals canonical, and the units records will arrive in.

    Ingested rows are canonical already; rows without source units (annotated records, stored as
    they arrived from the watches) are converted from the table's units.
    """
    units = table_units(frame)
    if units.is_canonical:
        return frame, units
    as_arrived = ~_converted_rows(frame)
    return _scaled(frame, units.factors(frame.columns), as_arrived), units


def as_records(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the clean table as the watches sent them: ingested rows back in their source units.

    The lifecycle scores validation and holdout rows through the model contract (records as they
    arrive), and the served model converts what arrives; feeding it canonical values from a table
    of m/s² watches would convert them twice. Rows without source units are left as they are.
    """
    units = table_units(frame)
    return from_canonical(frame, units, _converted_rows(frame))
