"""Drift statistics (``assets.monitoring.drift``): PSI verdicts on synthetic data with a known answer,
the JSON profile, the report and figure, and text features on the real disaster messages, where a
batch of the usual mix must pass and a batch of social posts (short tweets) must be flagged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assets.monitoring.drift import (
    DRIFT_PSI,
    MIN_BATCH,
    build_profile,
    categorical_psi,
    compare,
    drift_figure,
    psi,
    render_report,
    summary,
    text_features,
    text_reference,
)

MESSAGES = Path(__file__).resolve().parents[1] / "data" / "disaster" / "disaster_messages.csv"
COLUMNS = ["a", "b", "c"]


def _normal(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    values = np.random.default_rng(seed).standard_normal((rows, len(COLUMNS))) + shift
    return pd.DataFrame(values, columns=COLUMNS)


@pytest.fixture(scope="module")
def reference_profile() -> dict:
    return build_profile(_normal(5000, seed=1000))


def test_same_distribution_is_not_drifted_over_seeds(reference_profile):
    worst = 0.0
    for seed in range(20):
        table = compare(reference_profile, _normal(200, seed))
        assert list(table["feature"]) == COLUMNS
        assert not summary(table)["drifted"], table
        worst = max(worst, summary(table)["max_psi"])
    assert 0.0 < worst < DRIFT_PSI


def test_mean_shift_of_one_sd_is_flagged(reference_profile):
    table = compare(reference_profile, _normal(200, seed=7, shift=1.0))
    assert (table["psi"] >= DRIFT_PSI).all() and table["drifted"].all()
    assert (table["p_value"] < 1e-6).all()
    assert summary(table)["drifted_features"] == COLUMNS
    # Too few values: measured, but not judged.
    few = compare(reference_profile, _normal(MIN_BATCH - 1, seed=7, shift=1.0))
    assert not few["drifted"].any() and set(few["reason"]) == {"too_few"}


def test_constant_feature_gives_zero_psi():
    assert psi(np.full(500, 3.0), np.full(40, 3.0)) == 0.0
    profile = build_profile(pd.DataFrame({"k": np.zeros(500)}))
    table = compare(profile, pd.DataFrame({"k": np.zeros(100)}))
    assert table.loc[0, "psi"] == 0.0 and not table.loc[0, "drifted"]
    # A constant reference still shows a batch that left its value.
    assert psi(np.zeros(500), np.full(100, -1.0)) >= DRIFT_PSI


def test_categorical_share_change():
    reference = pd.Series(["x", "y"] * 500)
    profile = build_profile(pd.DataFrame(index=range(1000)), {"top": reference})
    shares = profile["categorical"]["top"]["shares"]
    assert shares == {"x": 0.5, "y": 0.5}
    equal, skewed = pd.Series(["x", "y"] * 100), pd.Series(["x"] * 180 + ["y"] * 20)
    assert categorical_psi(shares, equal) == pytest.approx(0.0)
    assert categorical_psi(shares, skewed) >= DRIFT_PSI
    table = compare(profile, pd.DataFrame(), {"top": skewed})
    assert table.loc[0, "kind"] == "categorical" and table.loc[0, "drifted"]
    assert table.loc[0, "p_value"] < 1e-6
    assert not compare(profile, pd.DataFrame(), {"top": equal}).loc[0, "drifted"]


def test_profile_survives_json():
    rng = np.random.default_rng(3)
    features = pd.DataFrame({"a": rng.standard_normal(3000), "b": rng.exponential(size=3000)})
    features.loc[::7, "b"] = np.nan
    categorical = {"top": pd.Series(rng.choice(["p", "q", "r"], 3000))}
    profile = build_profile(features, categorical)
    assert profile["rows"] == 3000 and len(profile["numeric"]["a"]["values"]) == 2000
    loaded = json.loads(json.dumps(profile, allow_nan=False))
    current = pd.DataFrame({"a": rng.standard_normal(150) + 0.5, "b": rng.exponential(size=150)})
    batch = {"top": pd.Series(rng.choice(["p", "q", "s"], 150))}
    pd.testing.assert_frame_equal(compare(loaded, current, batch), compare(profile, current, batch))
    # Features the batch lacks are skipped.
    assert list(compare(loaded, current[["b"]])["feature"]) == ["b"]


@pytest.fixture(scope="module")
def disaster() -> tuple[pd.DataFrame, frozenset[str], dict]:
    messages = pd.read_csv(MESSAGES).dropna(subset=["message"]).reset_index(drop=True)
    vocabulary, features = text_reference(messages["message"])
    return messages, frozenset(vocabulary), build_profile(features)


def _batch_table(disaster, pool: pd.DataFrame, seed: int) -> pd.DataFrame:
    _, vocabulary, profile = disaster
    picks = np.random.default_rng(seed).choice(len(pool), 200, replace=False)
    return compare(profile, text_features(pool["message"].iloc[picks], vocabulary))


def test_disaster_same_mix_is_not_drifted(disaster):
    messages = disaster[0]
    for seed in range(3):
        table = _batch_table(disaster, messages, seed)
        assert len(table) == 10 and not summary(table)["drifted"], table


def test_disaster_social_batch_is_drifted(disaster):
    messages = disaster[0]
    social = messages[messages["genre"] == "social"]
    for seed in range(3):
        flagged = set(summary(_batch_table(disaster, social, seed))["drifted_features"])
        # Tweets: shorter, more capitals than the news-heavy reference.
        assert {"chars", "upper_share"} <= flagged, flagged


def test_unseen_words_are_out_of_vocabulary(disaster):
    vocabulary = disaster[1]
    features = text_features(pd.Series(["Qzxv BLORPTH wuzzlefrob", "", None]), vocabulary)
    assert features.loc[0, "oov_share"] == 1.0 and features.loc[0, "tokens"] == 3
    assert features.loc[0, "upper_share"] == pytest.approx(8 / 21)
    assert (features.loc[1:, ["tokens", "oov_share", "emb_0"]] == 0).all().all()
    assert text_features(pd.Series(["water food water"]), vocabulary).loc[0, "oov_share"] == 0.0


def _table() -> pd.DataFrame:
    profile = build_profile(pd.DataFrame({"<len>&": np.arange(1000.0), "calm": np.ones(1000)}))
    return compare(profile, pd.DataFrame({"<len>&": np.arange(100.0) + 2000, "calm": np.ones(100)}))


def test_render_report_escapes_and_highlights():
    page = render_report(_table(), "drift <batch 1>", {"model <version>": "3 & 4"})
    assert "&lt;len&gt;&amp;" in page and "<len>" not in page
    assert "drift &lt;batch 1&gt;" in page and "<dt>model &lt;version&gt;</dt><dd>3 &amp; 4</dd>" in page
    highlighted = [row for row in page.split("<tr") if row.startswith(' class="drifted"')]
    assert len(highlighted) == 1 and "&lt;len&gt;&amp;" in highlighted[0]
    assert page.count("<svg") == 2 and "<script" not in page and "<link" not in page


def test_drift_figure_writes_png(tmp_path):
    path = drift_figure(_table(), tmp_path / "figure.png")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
