"""Layout detection on the real shared files, a synthetic raw participant file and unknown heads."""

from __future__ import annotations

from pathlib import Path

import pytest

from assets.activity.layouts import (
    FEATURE_COLUMNS,
    RAW_FIELDS,
    RAW_TYPES,
    WINDOW_COLUMNS,
    WINDOW_STEPS,
    detect_layout,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "casas_arwise"


def _head(path: Path) -> list[str]:
    with path.open() as handle:
        return [handle.readline(), handle.readline()]


@pytest.mark.parametrize(
    ("name", "layout"),
    [
        ("p1_windows_train.csv", "windows"),
        ("p1_windows_test.csv", "windows"),
        ("train.csv", "features"),
        ("test.csv", "features"),
    ],
)
def test_real_files(name: str, layout: str) -> None:
    assert detect_layout(_head(DATA / name)) == layout


def test_synthetic_raw_file(tmp_path: Path) -> None:
    path = tmp_path / "sw1.p1.csv"
    row = "2020-08-27 15:01:31.100000,1,2,3,4,5,6,7,8,9,,,,,,,,,unplugged,"
    path.write_text("\n".join([",".join(RAW_FIELDS), ",".join(RAW_TYPES), row]) + "\n")
    assert detect_layout(_head(path)) == "raw"


def test_layout_shapes() -> None:
    assert len(RAW_FIELDS) == len(RAW_TYPES) == 20
    assert RAW_TYPES[0] == "dt" and RAW_TYPES[-1] == "s" and RAW_TYPES.count("s") == 3
    assert len(WINDOW_COLUMNS) == 2 + 8 * WINDOW_STEPS
    assert len(FEATURE_COLUMNS) == 40


def test_byte_order_mark_and_crlf_are_tolerated() -> None:
    assert detect_layout(["\ufeff" + ",".join(FEATURE_COLUMNS) + "\r\n"]) == "features"
    assert detect_layout([",".join(RAW_FIELDS) + "\r\n", ",".join(RAW_TYPES) + "\r\n"]) == "raw"


@pytest.mark.parametrize(
    "lines",
    [
        [],
        ["original,mapped\n", "ArmCurl_end,Exercise\n"],  # activity_mapping.csv
        [",".join(RAW_FIELDS) + "\n"],  # raw without its type row
        [",".join(RAW_FIELDS) + "\n", ",".join(["f"] * len(RAW_FIELDS)) + "\n"],  # wrong types
        [",".join(WINDOW_COLUMNS[:-1]) + "\n"],  # a window file without its label column
        [",".join(reversed(FEATURE_COLUMNS)) + "\n"],
    ],
)
def test_unknown_layouts(lines: list[str]) -> None:
    assert detect_layout(lines) is None


def test_real_unknown_file() -> None:
    assert detect_layout(_head(DATA / "activity_mapping.csv")) is None
