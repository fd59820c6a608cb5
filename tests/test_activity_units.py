"""Units of landed smartwatch data: the declaration, the conversions, and the range check's message."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dagster import Failure

from assets.activity.quality import prepare_ranges, range_message
from assets.activity.units import (
    SOURCE_UNIT_COLUMNS,
    SensorUnits,
    as_records,
    from_canonical,
    parse_sensor_units,
    table_units,
    to_canonical,
    training_windows,
)
from orchestration.settings import Settings
from resources.object_store import ObjectStoreResource

WINDOWS = Path(__file__).resolve().parents[1] / "data" / "activity" / "p1_windows_test.csv"


def test_declaration_defaults_and_refusals() -> None:
    assert parse_sensor_units("{}") == SensorUnits("g", "rad/s")
    assert parse_sensor_units('{"acceleration_unit": "m/s2"}') == SensorUnits("m/s2", "rad/s")
    assert parse_sensor_units('{"rotation_unit": "deg/s"}') == SensorUnits("g", "deg/s")
    with pytest.raises(ValueError, match=r"acceleration_unit must be one of \['g', 'm/s2'\], got 'mps2'"):
        parse_sensor_units('{"acceleration_unit": "mps2"}')
    with pytest.raises(ValueError, match=r"rotation_unit must be one of \['deg/s', 'rad/s'\]"):
        parse_sensor_units('{"rotation_unit": "rpm"}')
    with pytest.raises(ValueError, match="unknown keys"):  # a typo must not leave the data unconverted
        parse_sensor_units('{"acceleration_units": "m/s2"}')
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_sensor_units("acceleration_unit: m/s2")


def test_a_bad_units_file_fails_naming_the_file_and_the_allowed_values(flywheel_env: Settings) -> None:
    from assets.activity.assets import load_sensor_units

    store = ObjectStoreResource(landing=flywheel_env.landing)
    assert load_sensor_units(store) == (SensorUnits(), None)
    store.write_bytes("activity/activity_sensors.json", b'{"acceleration_unit": "G"}')
    with pytest.raises(Failure, match=r"activity/activity_sensors.json: acceleration_unit .*'g', 'm/s2'"):
        load_sensor_units(store)


def _windows() -> pd.DataFrame:
    return pd.read_csv(WINDOWS, nrows=4)


def test_conversions_touch_signals_only_and_round_trip() -> None:
    g = _windows()
    units = SensorUnits("m/s2", "deg/s")
    watch = from_canonical(g, units)
    assert watch["user_acceleration_x_1"].iloc[0] == pytest.approx(
        g["user_acceleration_x_1"].iloc[0] * 9.80665
    )
    assert watch["rotation_rate_z_7"].iloc[1] == pytest.approx(np.degrees(g["rotation_rate_z_7"].iloc[1]))
    assert watch["distance_from_home_1"].equals(g["distance_from_home_1"])  # location is not a signal
    back = to_canonical(watch, units)
    pd.testing.assert_frame_equal(back, g, rtol=1e-12)
    # Records arrive as JSON: strings and None are numbers and gaps like any others.
    signals = [c for c in g.columns if c.startswith(("user_acceleration_", "rotation_rate_"))]
    as_json = watch.astype(object)
    as_json[signals] = as_json[signals].map(repr)
    as_json.loc[0, signals[0]] = None
    expected = g[signals].copy()
    expected.loc[0, signals[0]] = np.nan
    pd.testing.assert_frame_equal(to_canonical(as_json, units)[signals], expected, rtol=1e-12)
    assert to_canonical(g, SensorUnits()) is g  # canonical records cost nothing


def test_training_rows_and_records_keep_one_kind_of_watch() -> None:
    """Ingested rows are canonical and say their source units; annotated records (no source units)
    arrived from the watch and are converted for training, and left alone as records."""
    g = _windows()
    units = SensorUnits("m/s2", "deg/s")
    ingested = g.assign(**{SOURCE_UNIT_COLUMNS[0]: "m/s2", SOURCE_UNIT_COLUMNS[1]: "deg/s"})
    annotated = from_canonical(g.iloc[:2], units)  # records as they arrived, stored with their labels
    table = pd.concat([ingested, annotated], ignore_index=True)
    assert table_units(table) == units and table_units(g) == SensorUnits()
    canonical, found = training_windows(table)
    assert found == units
    pd.testing.assert_frame_equal(
        canonical[g.columns].iloc[4:].reset_index(drop=True), g.iloc[:2], rtol=1e-12
    )
    records = as_records(table)
    pd.testing.assert_frame_equal(records[g.columns].iloc[:4], from_canonical(g, units), rtol=1e-12)
    pd.testing.assert_frame_equal(records.iloc[4:], table.iloc[4:])
    mixed = table.copy()
    mixed.loc[0, SOURCE_UNIT_COLUMNS[0]] = "g"
    with pytest.raises(ValueError, match="re-ingest"):
        table_units(mixed)


def test_range_message_names_the_largest_value_and_the_units_file() -> None:
    g = _windows()
    assert range_message(prepare_ranges(g)) is None
    watch = from_canonical(g, SensorUnits("m/s2", "deg/s"))
    message = range_message(prepare_ranges(watch))
    largest = watch.filter(regex="^rotation_rate_").abs().max().max()
    assert f"largest |rotation rate| seen is {largest:.6g}" in message
    assert "activity_sensors.json" in message and '"rotation_unit": "deg/s"' in message
    far_off = g.assign(user_acceleration_x_1=1e6)  # no unit explains this one
    message = range_message(prepare_ranges(far_off))
    assert "largest |user acceleration| seen is 1e+06" in message and "allowed:" in message
