"""The Sparkify generator against the shared slice: format, page shares, per-user counts, churn truth."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assets.sparkify.events import CANCEL_PAGE, FIELD_TYPES, FIELDS, PAGE_METHOD_STATUS
from assets.sparkify.generator import generate, generate_frames, generate_spark, lines_by_day

SLICE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sparkify" / "log_data"
START = dt.datetime(2018, 11, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def spark():
    from resources.spark import SparkResource

    return SparkResource(master="local[2]").spark_session


@pytest.fixture(scope="module")
def shared() -> pd.DataFrame:
    return pd.concat([pd.read_json(p, lines=True, dtype=False) for p in sorted(SLICE.rglob("*.json"))])


@pytest.fixture(scope="module")
def generated() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_frames(98, 30, seed=11, start=START)


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    return {str: "string", int: "long", float: "double"}[type(value)]


def test_lines_match_the_landed_format(tmp_path: Path, shared: pd.DataFrame) -> None:
    report = generate(tmp_path, 30, 5, seed=2, start=START)
    files = sorted((tmp_path / "log_data").rglob("*.json"))
    assert report["files"] == len(files) == 5
    assert [f.name for f in files][0] == "2018-11-01-events.json" and files[0].parent.name == "11"
    raw = files[1].read_bytes()
    assert not raw.endswith(b"\n")  # as landed: newline-separated, no final newline
    real_line = next(SLICE.rglob("*.json")).read_text().splitlines()[0]
    for line in raw.decode().split("\n")[:200]:
        record = json.loads(line)
        assert list(record) == list(FIELDS) == list(json.loads(real_line))  # same keys, same order
        assert "/" not in line.replace("\\/", "")  # slashes escaped as in eventsim's output
        assert line.isascii()
        for name, value in record.items():
            assert _json_kind(value) in {FIELD_TYPES[name], "null"}, (name, value)
        if record["auth"] == "Logged Out":
            assert record["userId"] == "" and record["firstName"] is None and record["registration"] is None
        else:
            assert record["userId"] != "" and isinstance(record["registration"], float)
        assert (record["length"] is not None) == (record["page"] == "NextSong")
        assert PAGE_METHOD_STATUS[record["page"]] == (record["method"], record["status"])
        day = dt.datetime.fromtimestamp(record["ts"] / 1000, dt.UTC).strftime("%Y-%m-%d")
        assert files[1].name.startswith(day)
    truth = pd.read_csv(tmp_path / "truth" / "users.csv")
    assert len(truth) == 30 and (truth["daily_hazard"] > 0).all()


def test_page_shares_and_user_counts_resemble_the_shared_slice(
    shared: pd.DataFrame, generated: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    events, _ = generated
    for page, (method, status) in PAGE_METHOD_STATUS.items():  # the slice's pages carry the same codes
        seen = shared.loc[shared["page"] == page, ["method", "status"]].drop_duplicates()
        assert seen.empty or seen.values.tolist() == [[method, status]], page
    common = sorted(set(shared["page"]) & set(events["page"]))
    real = shared["page"].value_counts(normalize=True).reindex(common, fill_value=0)
    real /= real.sum()
    ours = events["page"].value_counts().reindex(common, fill_value=0)
    ours /= ours.sum()
    assert abs(ours["NextSong"] - real["NextSong"]) < 0.05
    assert abs(ours["Home"] - real["Home"]) < 0.04
    for page in common:  # every shared page within a factor 3 of its share, or both rare
        assert real[page] / 3 <= ours[page] <= real[page] * 3 or max(real[page], ours[page]) < 0.003, page
    counts_real = shared[shared["userId"] != ""].groupby("userId").size()
    counts_ours = events[events["userId"] != ""].groupby("userId").size()
    for q in (0.25, 0.5, 0.75):
        assert 0.4 <= counts_ours.quantile(q) / counts_real.quantile(q) <= 2.5, q
    logged_out = (events["auth"] == "Logged Out").mean()
    assert 0.01 <= logged_out <= 0.1 and abs(logged_out - (shared["auth"] == "Logged Out").mean()) < 0.03


def test_churn_follows_the_known_hazard(generated: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    events, truth = generate_frames(400, 50, seed=5, start=START)
    cancelled = events[events["page"] == CANCEL_PAGE]
    assert cancelled["userId"].is_unique and len(cancelled) == truth["cancelled_at"].notna().sum() > 30
    last = events[events["userId"] != ""].groupby("userId")["ts"].max()
    # A user who reaches Cancellation Confirmation stops: it is their last event.
    assert (last.reindex(cancelled["userId"]).to_numpy() == cancelled["ts"].to_numpy()).all()
    assert (cancelled["auth"] == "Cancelled").all()
    # Users with the highest true hazard churn far more often than those with the lowest.
    ranked = truth.sort_values("daily_hazard")
    low, high = np.array_split(ranked["cancelled_at"].notna().to_numpy(), 3)[0::2]
    assert high.mean() > 3 * max(low.mean(), 0.01)


def test_spark_generation_writes_the_same_format_by_shards(spark, tmp_path: Path) -> None:
    report = generate_spark(spark, tmp_path, 90, 2, seed=4, start=START, shard_users=60)  # two shards
    files = sorted((tmp_path / "log_data").rglob("*.json"))
    assert report["shards"] == 2 and len(files) == 2
    lines = [line for f in files for line in f.read_text().split("\n")]
    records = [json.loads(line) for line in lines]
    assert all(list(r) == list(FIELDS) for r in records)
    stamps = [r["ts"] for r in records]
    assert stamps == sorted(stamps)  # each day in ts order, days in order
    users = {r["userId"] for r in records} - {""}
    assert max(map(int, users)) > 60  # the second shard's users
    truth = pd.read_csv(tmp_path / "truth" / "users.csv", dtype={"userId": str})
    assert len(truth) == 90 and users <= set(truth["userId"])
    keys = {(r["userId"], r["sessionId"], r["itemInSession"]) for r in records}
    assert len(keys) == len(records)
    # The same shard gives the same lines, generated alone with pandas.
    from assets.sparkify.generator import SESSION_STRIDE

    first, _ = generate_frames(60, 2, 4 * 1_000_003, START, first_id=1, first_session=1)
    assert len(first) and set(lines_by_day(first)["line"]) <= set(lines)
    assert first["sessionId"].max() < SESSION_STRIDE


def test_spark_generation_honours_the_first_id(spark, tmp_path: Path) -> None:
    """Issue 22 (10): ``--first-id`` was ignored on the Spark path, so generated ids collided with
    real data's and merged different users' events."""
    generate_spark(spark, tmp_path, 90, 2, seed=4, start=START, shard_users=60, first_id=100_001)
    records = [
        json.loads(line)
        for f in sorted((tmp_path / "log_data").rglob("*.json"))
        for line in f.read_text().split("\n")
    ]
    users = {int(r["userId"]) for r in records if r["userId"] != ""}
    assert min(users) >= 100_001 and max(users) <= 100_090
    assert min(int(r["sessionId"]) for r in records) >= 100_001
    truth = pd.read_csv(tmp_path / "truth" / "users.csv", dtype={"userId": str})
    assert set(truth["userId"].astype(int)) == set(range(100_001, 100_091))
