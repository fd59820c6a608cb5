"""The flow champion on series it has never seen: NAB's standard score through the pyfunc (issue 21).

    PYTHONPATH=. python benchmarks/flow_nab.py [--model models:/flow@champion] [--nab ../shared/data/nab]

Scores every series of a NAB-layout folder (default ``FLYWHEEL_FLOW_TRANSFER_DIR``: the 34 development
series of ``../shared/data/nab``) through a flow pyfunc's contract alone (``series, time, value`` →
``anomaly``), and scores ``anomaly`` with NAB's standard profile: the project's own scorer
(``assets.flow.nab``) and, when it is there, ``../shared/tools/nab_score.py`` on the same files. With
no ``--model`` a gradient-boosting model is trained on generated sewer series, as a champion would
be. It first prints a table of every detector of the ensemble alone and of the ensemble. The last line
is ``nab_standard=… files=…``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from assets.flow import model as M
from assets.flow.detectors import DETECTORS, DetectorConfig, ensemble_z
from assets.flow.nab import Corpus, nab_standard, score_file
from assets.flow.transfer import score_corpus, transfer_root

TOOL = Path(__file__).resolve().parents[2] / "shared" / "tools" / "nab_score.py"


def detector_table(corpus: Corpus) -> pd.DataFrame:
    """NAB standard of each detector alone (with and without the alarm quiet period) and of the
    ensemble, straight from ``assets.flow.detectors`` on each series."""
    files = corpus.series()
    config = DetectorConfig()
    rows = []
    variants = [(d, d, config) for d in DETECTORS] + [
        (f"{d} (no quiet)", d, replace(config, quiet=0)) for d in DETECTORS
    ]
    variants += [("ensemble", None, config), ("ensemble (no quiet)", None, replace(config, quiet=0))]
    for label, only, cfg in variants:
        scored = []
        for name, frame in files.items():
            t = pd.to_datetime(frame["timestamp"]).to_numpy()
            x = frame["value"].to_numpy(dtype=float)
            z = ensemble_z(np.zeros(len(x), dtype=np.int64), t.astype("int64"), x, cfg, only)
            scored.append(score_file(name, t, z, corpus.windows[name]))
        result = nab_standard(scored)
        rows.append(
            {
                "detector": label,
                "nab_standard": round(result.score, 2),
                "detected": result.detected_windows,
                "missed": result.missed_windows,
                "false_positives": result.false_positives,
            }
        )
    return pd.DataFrame(rows)


def load_model(uri: str | None) -> tuple[object, str]:
    import mlflow.pyfunc

    if uri:
        return mlflow.pyfunc.load_model(uri), uri
    from assets.flow.generator import as_labelled_frame, generate_series

    train = as_labelled_frame(generate_series(20, 20, seed=7))
    tmp = tempfile.mkdtemp()
    mlflow.pyfunc.save_model(f"{tmp}/model", python_model=M.train_gbm(train, M.LABELS, 0))
    return mlflow.pyfunc.load_model(f"{tmp}/model"), "gbm trained on 20 generated sewer series"


def shared_tool_score(corpus: Corpus, scores: dict[str, np.ndarray]) -> str | None:
    """The last line of ``../shared/tools/nab_score.py`` on the same scores (None without it)."""
    if not TOOL.is_file():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        for name, values in scores.items():
            path = Path(tmp) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            pd.DataFrame({"anomaly_score": values}).to_csv(path, index=False)
        out = subprocess.run(
            [sys.executable, str(TOOL), "--data", str(corpus.root / "data"), "--windows",
             str(corpus.root / "combined_windows.json"), "--scores", tmp],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--model", default=None, help="a flow pyfunc URI (default: train gbm on generated series)"
    )
    parser.add_argument(
        "--nab", default=None, help="a NAB-layout folder (default FLYWHEEL_FLOW_TRANSFER_DIR)"
    )
    parser.add_argument("--no-table", action="store_true", help="skip the per-detector table")
    args = parser.parse_args()
    corpus = Corpus.read(Path(args.nab) if args.nab else transfer_root())
    print(f"transfer set: {corpus.root} ({len(corpus.windows)} files)")
    if not args.no_table:
        print(detector_table(corpus).to_markdown(index=False))
    model, described = load_model(args.model)
    started = time.monotonic()
    scores = score_corpus(model.predict, corpus)
    seconds = time.monotonic() - started
    readings = sum(len(v) for v in scores.values())
    result = corpus.score(scores)
    flagged = {n: int((v > 0.5).sum()) for n, v in scores.items()}
    print(f"model: {described}; {readings} readings scored in {seconds:.1f}s ({readings / seconds:.0f}/s)")
    print(
        f"series with a reading predicted anomalous: {sum(v > 0 for v in flagged.values())} of {len(flagged)}"
    )
    print(
        f"windows detected {result.detected_windows}, missed {result.missed_windows}, "
        f"false positives {result.false_positives}, threshold {result.threshold:.4f}"
    )
    tool = shared_tool_score(corpus, scores)
    if tool:
        print(f"../shared/tools/nab_score.py: {tool}")
    print(f"nab_standard={result.score:.2f} files={result.files}")


if __name__ == "__main__":
    main()
