"""The project's NAB scorer against ``../shared/tools/nab_score.py`` on the same scores (issue 21)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assets.flow.nab import Corpus

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT.parent / "shared" / "tools" / "nab_score.py"
NAB = ROOT.parent / "shared" / "data" / "nab"


def _ours(corpus: Corpus, scores: dict[str, np.ndarray]) -> float:
    return corpus.score(scores).score


def _tool(corpus: Corpus, scores: dict[str, np.ndarray], folder: Path) -> float:
    for name, values in scores.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"anomaly_score": values}).to_csv(path, index=False)
    out = subprocess.run(
        [sys.executable, str(TOOL), "--data", str(corpus.root / "data"), "--windows",
         str(corpus.root / "combined_windows.json"), "--scores", str(folder)],
        capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()[-1]  # fmt: skip
    return float(out.split()[0].split("=")[1])


def _score_sets(corpus: Corpus) -> dict[str, dict[str, np.ndarray]]:
    from assets.flow.detectors import DetectorConfig, ensemble_z

    rng = np.random.default_rng(7)
    files = corpus.series()
    ensemble = {}
    for name, frame in files.items():
        t = pd.to_datetime(frame["timestamp"]).to_numpy().astype("int64")
        ensemble[name] = ensemble_z(
            np.zeros(len(t), dtype=np.int64), t, frame["value"].to_numpy(float), DetectorConfig()
        )
    return {
        "random": {n: rng.random(len(f)) for n, f in files.items()},
        "coarse": {n: rng.integers(0, 4, len(f)).astype(float) for n, f in files.items()},  # many ties
        "ensemble": ensemble,
    }


@pytest.mark.parametrize("root", [NAB, ROOT / "data" / "flow" / "transfer"], ids=["nab34", "vendored"])
def test_our_scorer_equals_the_shared_tool(root: Path, tmp_path: Path) -> None:
    corpus = Corpus.read(root)
    for label, scores in _score_sets(corpus).items():
        ours, theirs = _ours(corpus, scores), _tool(corpus, scores, tmp_path / label)
        assert ours == pytest.approx(theirs, abs=1e-3), label  # the tool prints four decimals


def test_never_firing_scores_0_and_the_first_reading_of_every_window_scores_100() -> None:
    corpus = Corpus.read(ROOT / "data" / "flow" / "transfer")
    files = corpus.series()
    silent = {n: np.zeros(len(f)) for n, f in files.items()}
    assert _ours(corpus, silent) == 0.0
    perfect = {}
    for name, frame in files.items():
        stamps = pd.to_datetime(frame["timestamp"])
        score = np.zeros(len(frame))
        for start, _ in corpus.windows[name]:
            score[int(np.flatnonzero(stamps == pd.Timestamp(start))[0])] = 1.0
        perfect[name] = score
    assert _ours(corpus, perfect) == pytest.approx(100.0)
