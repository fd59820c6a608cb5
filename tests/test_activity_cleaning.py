"""Spark cleaning: quarantine reasons and true line numbers, the row invariant, label propagation over
a span, windows from raw rows, and the real window and feature files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from assets.activity.cleaning import (
    CleanResult,
    build_windows,
    clean_features,
    clean_raw,
    clean_windows,
    read_lines,
)
from assets.activity.layouts import FEATURE_COLUMNS, RAW_FIELDS, RAW_TYPES, STAMP_FORMAT, WINDOW_COLUMNS
from resources.spark import SparkResource

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "casas_arwise"
START = dt.datetime(2020, 8, 27, 15, 0, 0)
SPAN_SECONDS = 2.0


@pytest.fixture(scope="module")
def spark():
    return SparkResource(master="local[2]").spark_session


def _stamp(step: int, offset_seconds: float = 0.0) -> str:
    return (START + dt.timedelta(seconds=step / 10 + offset_seconds)).strftime(STAMP_FORMAT)


def _row(step: int, label: str = "", accel_x: float = 0.01, offset_seconds: float = 0.0) -> str:
    motion = f"0.1,0.2,0.3,0.01,0.02,0.03,{accel_x},0.002,0.003"
    return f"{_stamp(step, offset_seconds)},{motion},residential,0.001,0.002,1.5,90,0.4,5,3,unplugged,{label}"


def _write(path: Path, rows: list[str]) -> str:
    path.write_text("\n".join([",".join(RAW_FIELDS), ",".join(RAW_TYPES), *rows]) + "\n")
    return str(path)


#: Line number → (the line, the expected reason). Lines 3, 4, 6, ... are valid rows.
MALFORMED = {
    5: ("garbage", "wrong_field_count"),
    7: (_row(4).replace("0.1,0.2", "0.1,abc"), "non_numeric"),
    9: (_row(6).replace("2020-08-27", "2020-02-30"), "bad_timestamp"),
    11: (_row(8).replace(",0.1,0.2,", ",,0.2,"), "missing_value"),
    13: (_row(9), "duplicate_stamp"),  # the stamp of line 12
    15: (_row(12).replace(",0.4,", ",fast,"), "non_numeric"),  # an optional field must still be a number
    17: ("", "wrong_field_count"),
    19: (_row(16, accel_x=float("nan")), "non_numeric"),
    21: (_row(18).replace("15:00:01.8", "15:00:01.8 PM"), "bad_timestamp"),
}


@pytest.fixture(scope="module")
def raw(spark, tmp_path_factory: pytest.TempPathFactory) -> CleanResult:
    """One clean of four participant files (one Spark job graph keeps the module fast)."""
    folder = tmp_path_factory.mktemp("raw")
    malformed = [MALFORMED.get(step + 3, (_row(step),))[0] for step in range(30)]
    malformed[20] = _row(20, label='"Eat, then rest"')  # a quoted field holding the separator
    # Two answers, 2.5 s apart: a row takes the nearest answer after it, if within the span.
    answers = [_row(i, label={50: "Cook", 80: "Eat"}.get(i, "")) for i in range(100)]
    # Two runs separated by a minute off the wrist; answers every 2 s in the first run.
    first_run = [_row(i, label="Walk" if i % 20 == 19 else "", accel_x=i) for i in range(250)]
    second_run = [
        _row(i, label="Sit" if i == 10 else "", accel_x=1000 + i, offset_seconds=85) for i in range(120)
    ]
    paths = [
        _write(folder / "sw1.p1.csv", malformed),
        _write(folder / "sw1.p2.csv", answers),
        _write(folder / "sw1.p3.csv", [_row(i) for i in range(100)]),  # same stamps, another person
        _write(folder / "sw1.p4.csv", first_run + second_run),
    ]
    return clean_raw(spark, paths, label_span_seconds=SPAN_SECONDS, activity_mapping={"Eat": "Meal"})


def _invariant(result: CleanResult) -> None:
    counts = result.counts
    assert counts["rows_in"] == counts["rows_kept"] + counts["rows_quarantined"]
    assert counts["rows_kept"] == result.kept.count()
    assert counts["rows_quarantined"] == result.quarantine.count()
    assert counts["rows_quarantined"] == sum(v for k, v in counts.items() if k.startswith("quarantined_"))


def test_raw_quarantine_has_true_lines_and_reasons(raw: CleanResult) -> None:
    _invariant(raw)
    assert raw.counts["rows_in"] == 30 + 100 + 100 + 370  # header rows are not records
    quarantine = raw.quarantine.toPandas()
    assert set(quarantine["source_file"].str.rsplit("/", n=1).str[-1]) == {"sw1.p1.csv"}
    found = {int(r.line): (r.raw, r.reason) for r in quarantine.itertuples()}
    assert found == MALFORMED
    assert raw.counts["quarantined_non_numeric"] == 3 and raw.counts["quarantined_duplicate_stamp"] == 1


def test_raw_kept_rows_are_typed(raw: CleanResult) -> None:
    types = dict(raw.kept.dtypes)
    assert list(raw.kept.columns) == ["participant", *RAW_FIELDS, "activity_label"]
    assert types["stamp"] == "timestamp_ntz" and types["yaw"] == "double" and types["speed"] == "double"
    assert types["location_type"] == types["user_activity_label"] == "string"
    kept = raw.kept.where("participant = 'sw1.p1'").toPandas()
    assert len(kept) == 30 - len(MALFORMED)
    assert set(kept["user_activity_label"].dropna()) == {"Eat, then rest"}
    assert kept["stamp"].is_unique


def test_labels_propagate_back_over_the_span(raw: CleanResult) -> None:
    rows = raw.kept.where("participant = 'sw1.p2'").orderBy("stamp").toPandas()
    step = ((rows["stamp"] - START).dt.total_seconds() * 10).round().astype(int)
    labels = dict(zip(step, rows["activity_label"], strict=True))
    # 'Cook' answered at step 50 covers steps 30..50 (2 s, inclusive); 'Eat' at 80 covers 60..80, mapped.
    expected = {i: "Cook" if 30 <= i <= 50 else "Meal" if 60 <= i <= 80 else None for i in range(100)}
    assert labels == expected
    assert rows.loc[step == 80, "user_activity_label"].item() == "Eat"  # the answer itself is kept as given
    other = raw.kept.where("participant = 'sw1.p3'").toPandas()
    assert len(other) == 100 and other["activity_label"].isna().all()  # labels stay with their participant


def test_windows_from_raw_rows(raw: CleanResult) -> None:
    windows = build_windows(raw.kept.where("participant = 'sw1.p4'")).orderBy("stamp").toPandas()
    assert list(windows.columns) == list(WINDOW_COLUMNS)
    # 250 rows → 2 windows (50 left over), a 60 s gap, then 120 rows → 1 window (20 left over).
    assert len(windows) == 3
    assert windows["user_acceleration_x_1"].tolist() == [0, 100, 1000]
    assert windows["user_acceleration_x_100"].tolist() == [99, 199, 1099]
    assert windows["stamp"].tolist() == [pd.Timestamp(_stamp(s, o)) for s, o in ((0, 0), (100, 0), (0, 85))]
    # Every first-run row is within 2 s of a 'Walk' answer; only 11 rows of the last window are 'Sit'.
    assert windows["activity_label"].tolist() == ["Walk", "Walk", None]
    assert windows["distance_from_home_1"].isna().all()


def test_line_numbers_survive_split_files(spark, tmp_path: Path) -> None:
    """Small splits cut the 15 kB window lines and pack several files' blocks into one task."""
    paths = [DATA / "p1_windows_test.csv", DATA / "test.csv"]
    old = {
        k: spark.conf.get(k) for k in ("spark.sql.files.maxPartitionBytes", "spark.sql.files.openCostInBytes")
    }
    spark.conf.set("spark.sql.files.maxPartitionBytes", "16k")
    spark.conf.set("spark.sql.files.openCostInBytes", "1k")
    try:
        lines = read_lines(spark, [str(p) for p in paths]).toPandas()
        assert spark.read.text([str(p) for p in paths]).rdd.getNumPartitions() > 10  # really split
    finally:
        for key, value in old.items():
            spark.conf.set(key, value)
    for path in paths:
        got = lines[lines["source_file"].str.endswith("/" + path.name)].sort_values("line")
        expected = path.read_text().splitlines()
        assert got["line"].tolist() == list(range(1, len(expected) + 1))
        assert got["raw"].tolist() == expected


def test_real_window_file(spark, tmp_path: Path) -> None:
    real = DATA / "p1_windows_test.csv"
    header, first, *_ = real.read_text().splitlines()
    fields = first.split(",")
    bad_number = ",".join([*fields[:5], "x", *fields[6:]])
    no_location_no_label = ",".join(
        ["" if WINDOW_COLUMNS[i].startswith(("dist", "bear")) else f for i, f in enumerate(fields[:-1])]
        + [""]
    )
    copy = tmp_path / "windows_copy.csv"
    copy.write_text(
        "\n".join([header, first, ",".join(fields[:400]), bad_number, no_location_no_label]) + "\n"
    )

    result = clean_windows(spark, [str(real), str(copy)])
    _invariant(result)
    assert result.counts["rows_in"] == 22 + 4 and result.counts["rows_kept"] == 22 + 2
    reasons = {(Path(r.source_file).name, r.line, r.reason) for r in result.quarantine.collect()}
    assert reasons == {("windows_copy.csv", 3, "wrong_field_count"), ("windows_copy.csv", 4, "non_numeric")}
    kept = result.kept.toPandas()
    assert list(kept.columns) == list(WINDOW_COLUMNS)
    assert dict(result.kept.dtypes)["stamp"] == "timestamp_ntz"
    expected = pd.read_csv(real)["activity_label"].value_counts().to_dict()
    assert kept["activity_label"].value_counts().to_dict() == {
        k: v + (k == fields[-1]) for k, v in expected.items()
    }
    assert kept["activity_label"].isna().sum() == 1


def test_real_feature_file_and_header_guard(spark) -> None:
    result = clean_features(spark, [str(DATA / "test.csv")])
    _invariant(result)
    assert result.counts["rows_in"] == result.counts["rows_kept"] == 199
    assert list(result.kept.columns) == list(FEATURE_COLUMNS)
    assert result.kept.where("course_mode IS NULL").count() > 0  # empty numbers are kept as null
    with pytest.raises(ValueError, match="test.csv"):
        clean_windows(spark, [str(DATA / "test.csv")])
