"""The three CSV layouts the CASAS smartwatch data arrives in, and how to tell them apart from a file's head.

``raw`` (a)
    One file per participant, two header rows (field names, then their types ``dt``/``f``/``s``), then
    one 10 Hz row per line; the activity label is only on the row after a prompt was answered.
``windows`` (b)
    One row per 10 s window: ``stamp``, then for each of the 100 steps the six motion signals and the two
    location values, then ``activity_label``. A record on topic ``activity.records`` is such a row
    without its label.
``features`` (c)
    One row of 38 aggregated features per window (the ArWISE ``data/train.csv`` shape).

Detection compares the whole header (and, for ``raw``, the type row) exactly: a file that merely
resembles a layout would otherwise be cleaned with the wrong schema and fill the quarantine with
misleading reasons, so it is better reported as unknown.
"""

from __future__ import annotations

from typing import Literal

Layout = Literal["raw", "windows", "features"]

LABEL_COLUMN = "activity_label"
#: 10 Hz rows per window: 10 s, the window length of the ArWISE raw-window data.
WINDOW_STEPS = 100
SAMPLE_RATE_HZ = 10.0
#: Full-scale range of the watch's sensors (Apple Watch): user acceleration in g, rotation rate in rad/s
#: (2000 °/s). Real readings saturate there; a value beyond is a unit or parsing error.
MAX_ABS_ACCELERATION_G = 16.0
MAX_ABS_ROTATION_RAD_S = 35.0
#: ``%Y-%m-%d %H:%M:%S.%f`` as written by the CASAS tools (local time, no zone).
STAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"

MOTION_FIELDS: tuple[str, ...] = (
    "yaw",
    "pitch",
    "roll",
    "rotation_rate_x",
    "rotation_rate_y",
    "rotation_rate_z",
    "user_acceleration_x",
    "user_acceleration_y",
    "user_acceleration_z",
)
RAW_FIELDS: tuple[str, ...] = (
    "stamp",
    *MOTION_FIELDS,
    "location_type",
    "latitude_distance_from_mean",
    "longitude_distance_from_mean",
    "altitude_distance_from_mean",
    "course",
    "speed",
    "horizontal_accuracy",
    "vertical_accuracy",
    "battery_state",
    "user_activity_label",
)
_STRING_FIELDS = frozenset({"location_type", "battery_state", "user_activity_label"})
RAW_TYPES: tuple[str, ...] = tuple(
    "dt" if f == "stamp" else "s" if f in _STRING_FIELDS else "f" for f in RAW_FIELDS
)

#: The six signals a window carries per step, in file order (acceleration in G, rotation in rad/s).
WINDOW_SIGNALS: tuple[str, ...] = (
    "user_acceleration_x",
    "user_acceleration_y",
    "user_acceleration_z",
    "rotation_rate_x",
    "rotation_rate_y",
    "rotation_rate_z",
)
WINDOW_LOCATION: tuple[str, ...] = ("distance_from_home", "bearing_from_home")
WINDOW_RECORD_COLUMNS: tuple[str, ...] = (
    "stamp",
    *(
        f"{field}_{step}"
        for step in range(1, WINDOW_STEPS + 1)
        for field in (*WINDOW_SIGNALS, *WINDOW_LOCATION)
    ),
)
WINDOW_COLUMNS: tuple[str, ...] = (*WINDOW_RECORD_COLUMNS, LABEL_COLUMN)

FEATURE_COLUMNS: tuple[str, ...] = (
    "stamp",
    *(f"{f}_mean" for f in ("yaw", "pitch", "roll", *WINDOW_SIGNALS[3:], *WINDOW_SIGNALS[:3])),
    *(f"{f}_std" for f in ("yaw", "pitch", "roll", *WINDOW_SIGNALS[3:], *WINDOW_SIGNALS[:3])),
    "rotation_magnitude_mean",
    "acceleration_magnitude_mean",
    "rotation_magnitude_std",
    "acceleration_magnitude_std",
    "speed_mean",
    "speed_std",
    "course_mode",
    "course_std",
    "distance_from_home_mean",
    "distance_from_home_std",
    "distance_from_home_latitude_mean",
    "distance_from_home_latitude_std",
    "distance_from_home_longitude_mean",
    "distance_from_home_longitude_std",
    "bearing_from_home_mode",
    "bearing_from_home_std",
    "time_of_day_radians",
    "time_of_day_sin",
    "time_of_day_cos",
    "day_of_week",
    LABEL_COLUMN,
)

#: Header rows that identify each layout; ``None`` means the layout has no second header row.
_HEADERS: dict[Layout, tuple[tuple[str, ...], tuple[str, ...] | None]] = {
    "raw": (RAW_FIELDS, RAW_TYPES),
    "windows": (WINDOW_COLUMNS, None),
    "features": (FEATURE_COLUMNS, None),
}
#: Lines before the first record, per layout.
HEADER_LINES: dict[Layout, int] = {layout: 1 + (types is not None) for layout, (_, types) in _HEADERS.items()}


def _fields(line: str) -> tuple[str, ...]:
    return tuple(f.strip().strip('"') for f in line.lstrip("\ufeff").rstrip("\r\n").split(","))


def detect_layout(first_lines: list[str]) -> Layout | None:
    """The layout whose header the file starts with, or ``None`` (the caller quarantines the file).

    ``raw`` needs both header rows; the other layouts need only the first line, so a header-only file
    is still recognised (and then cleans to zero rows).
    """
    if not first_lines:
        return None
    header = _fields(first_lines[0])
    for layout, (names, types) in _HEADERS.items():
        if header != names:
            continue
        if types is None:
            return layout
        return layout if len(first_lines) > 1 and _fields(first_lines[1]) == types else None
    return None
