"""The flow gate's transfer set: series from other domains that no flow model trains on.

Why: a champion is judged on the sewer holdout *and* on monitoring series it has never seen (issue 21),
with the Numenta Anomaly Benchmark's standard score (``assets.flow.nab``). The set is a NAB-layout
folder (``data/<category>/<name>.csv`` and ``combined_windows.json``) read from
``FLYWHEEL_FLOW_TRANSFER_DIR``: by default the 34 development series in ``../shared/data/nab`` when
present, else the vendored sample under ``data/flow/transfer/`` (never landed, never trained on).
Every series goes through the model's pyfunc contract alone (``series, time, value`` → ``anomaly``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from assets.flow.nab import Corpus
from orchestration.settings import get_settings

#: A series name no sewer site has: the transfer series stay cold for every model.
PREFIX = "transfer:"


def transfer_root() -> Path:
    return get_settings().flow_transfer_dir


def transfer_records(corpus: Corpus) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Every series' readings as records of the topic, in one frame; and each file's readings."""
    files = corpus.series()
    records = pd.concat(
        [
            pd.DataFrame(
                {"series": PREFIX + name, "time": frame["timestamp"].astype(str), "value": frame["value"]}
            )
            for name, frame in files.items()
        ],
        ignore_index=True,
    )
    return records, files


def score_corpus(predict: Callable[[pd.DataFrame], pd.DataFrame], corpus: Corpus) -> dict[str, np.ndarray]:
    """Each file's ``anomaly`` through ``predict`` (one call for the whole corpus)."""
    records, files = transfer_records(corpus)
    anomaly = predict(records)["anomaly"].to_numpy(dtype=float)
    out, start = {}, 0
    for name, frame in files.items():
        out[name] = anomaly[start : start + len(frame)]
        start += len(frame)
    return out


def nab_of(scores: dict[str, np.ndarray], corpus: Corpus) -> dict[str, float]:
    result = corpus.score(scores)
    return {
        "transfer_nab_standard": result.score,
        "transfer_files": float(result.files),
        "transfer_detected_windows": float(result.detected_windows),
        "transfer_missed_windows": float(result.missed_windows),
        "transfer_false_positives": float(result.false_positives),
    }


def transfer_metrics(predict: Callable[[pd.DataFrame], pd.DataFrame]) -> dict[str, float]:
    """The lifecycle's transfer metrics for flow (``LifecycleSpec.transfer_metrics``)."""
    corpus = Corpus.read(transfer_root())
    return nab_of(score_corpus(predict, corpus), corpus)
