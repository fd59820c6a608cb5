"""Spark cleaning of Sparkify logs: every quarantine reason, anonymous events apart, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assets.sparkify.cleaning import REASONS, clean_file, file_day

GOOD = {
    "artist": "Manowar", "auth": "Logged In", "firstName": "Jacob", "gender": "M", "itemInSession": 0,
    "lastName": "Klein", "length": 247.562, "level": "paid", "location": "Tampa-Clearwater, FL",
    "method": "PUT", "page": "NextSong", "registration": 1540558108796.0, "sessionId": 1049,
    "song": "Shell Shock", "status": 200, "ts": 1543540121796, "userAgent": "Mozilla\\/5.0", "userId": "73",
}  # fmt: skip
LOGGED_OUT = {
    **{k: None for k in GOOD}, "auth": "Logged Out", "itemInSession": 1, "level": "free", "method": "GET",
    "page": "Home", "sessionId": 52, "status": 200, "ts": 1543540200000, "userId": "",
}  # fmt: skip


def _line(**changes) -> str:
    return json.dumps({**GOOD, **changes}, separators=(",", ":"))


@pytest.fixture(scope="module")
def spark():
    from resources.spark import SparkResource

    return SparkResource(master="local[2]").spark_session


def test_every_reason_is_quarantined_and_nothing_is_lost(spark, tmp_path: Path) -> None:
    lines = [
        _line(),  # kept
        _line(itemInSession=1, page="Home", song=None, artist=None, length=None),  # kept
        json.dumps(LOGGED_OUT),  # kept apart: no user
        json.dumps({**LOGGED_OUT, "auth": "Guest", "itemInSession": 2}),  # kept apart
        "this is not json",  # not_json
        "[1, 2, 3]",  # not_json: not an object
        "",  # not_json: blank
        _line(itemInSession=3, ts="yesterday"),  # wrong_types
        _line(itemInSession=4, length="long"),  # wrong_types
        _line(itemInSession=5, sessionId=10.5),  # wrong_types
        _line(itemInSession=9, ts="1543540121796"),  # wrong_types: a number sent as a JSON string
        _line(itemInSession=10, length="247.5"),  # wrong_types: the same for a double
        _line(itemInSession=11, length=float("nan")),  # wrong_types: NaN is no JSON number
        _line(itemInSession=12, length="Infinity"),  # wrong_types: nor, as a string, is Infinity
        _line(itemInSession=13, ts=10**20),  # wrong_types: a long overflowed
        json.dumps({k: v for k, v in GOOD.items() if k != "ts"} | {"itemInSession": 6}),  # no_ts
        _line(itemInSession=7, userId=""),  # logged_in_without_user
        _line(itemInSession=8, userId=None),  # logged_in_without_user
        _line(),  # duplicate_event (same user, session, item as the first)
    ]
    path = tmp_path / "2018-11-30-events.json"
    path.write_text("\n".join(lines))
    result = clean_file(spark, str(path), "sparkify/log_data/2018/11/2018-11-30-events.json")
    counts = result.counts
    assert counts["rows_in"] == len(lines) == counts["rows_kept"] + counts["rows_quarantined"]
    assert counts["rows_kept"] == 4 and counts["user_events"] == 2 and counts["anonymous_events"] == 2
    assert {r: counts[f"quarantined_{r}"] for r in REASONS} == {
        "not_json": 3, "wrong_types": 8, "no_ts": 1, "logged_in_without_user": 2, "duplicate_event": 1,
    }  # fmt: skip
    quarantine = result.quarantine.toPandas()
    assert len(quarantine) == counts["rows_quarantined"]
    assert set(quarantine.loc[quarantine["reason"] == "not_json", "raw"]) == {
        "this is not json",
        "[1, 2, 3]",
        "",
    }
    assert (quarantine["source_file"] == "sparkify/log_data/2018/11/2018-11-30-events.json").all()
    quoted = quarantine.loc[quarantine["reason"] == "wrong_types", "raw"]
    assert quoted.str.contains('"ts":"1543540121796"').sum() == 1
    events = result.events.toPandas()
    assert sorted(events["itemInSession"]) == [0, 1] and (events["userId"] == "73").all()
    assert events["ts"].dtype.kind == "i" and events["registration"].dtype.kind == "f"
    assert (events["source_day"] == "2018-11-30").all()
    anonymous = result.anonymous.toPandas()
    assert set(anonymous["auth"]) == {"Logged Out", "Guest"} and (anonymous["userId"] == "").all()


def test_shared_slice_is_clean(spark) -> None:
    folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "sparkify" / "log_data" / "2018" / "11"
    result = clean_file(spark, str(folder / "2018-11-15-events.json"), "2018-11-15-events.json")
    lines = (folder / "2018-11-15-events.json").read_text().count("\n") + 1
    assert result.counts["rows_in"] == lines == result.counts["rows_kept"]
    assert result.counts["anonymous_events"] > 0


def test_file_day() -> None:
    assert file_day("sparkify/log_data/2018/11/2018-11-01-events.json") == "2018-11-01"
    assert file_day("sparkify/mini_sparkify_event_data.json") is None


def test_events_without_session_fields_are_not_duplicates_of_each_other(spark, tmp_path: Path) -> None:
    """Issue 22 (8): lines without ``sessionId``/``itemInSession`` fell into one window partition
    and all but one became ``duplicate_event``. Only the same key at the same ``ts`` is a duplicate."""
    lines = [_line(sessionId=None, itemInSession=None, ts=GOOD["ts"] + i) for i in range(5)]
    lines.append(_line(sessionId=None, itemInSession=None, ts=GOOD["ts"]))  # a true duplicate
    path = tmp_path / "2018-11-30-events.json"
    path.write_text("\n".join(lines))
    counts = clean_file(spark, str(path), "sparkify/2018-11-30-events.json").counts
    assert counts["rows_in"] == 6 and counts["user_events"] == 5
    assert counts["quarantined_duplicate_event"] == 1
