"""Flow anomaly trainers and the pyfunc every one of them returns.

Contract (issue 14): input rows ``series, time, value`` — any number of series, in any order, as
they arrive on ``flow.readings`` — and for every input row, in the same order, ``normal`` and
``anomaly`` (probabilities) and ``prediction``. A row's output depends only on the rows of its series
at or before its time, and on ratios of the series' own values, so a site never seen, in other units,
gets the same answers. A row whose time or value cannot be read gets 0.5 and ``normal``: never an
error.

Cold start (issue 21): every model carries the unsupervised ensemble of ``assets.flow.detectors``.
A series the model trained on with enough labels (``MIN_LABELLED``, ``MIN_ANOMALIES``) is scored by
the supervised scorer, or by a blend of both (the larger probability) when the training series'
last part says the blend flags anomalies better; every other series — a new site, a meter of another
kind — is scored by the ensemble, whose ``anomaly`` is a monotone function of a per-series tail
probability, comparable across series. ``anomaly > 0.5`` is exactly ``prediction == "anomaly"``.

Each supervised trainer turns a raw score into a probability around its own threshold (chosen for
point-wise F1 on the last part of each training series, never on the holdout). Trainers: gradient
boosting on the window features, isolation forest and the rolling robust z-score (threshold from
labels), the seed's chunk classifiers in PyTorch (LSTM, FCN on the last T readings), the label-free
ensemble alone, and the zero-only rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from assets.flow.detectors import DetectorConfig, anomaly_probability, ensemble_z, series_bounds
from assets.flow.features import T, window_features, windows
from assets.flow.parsing import parse_times, parse_values

LABELS = ["anomaly", "normal"]
OUTPUT_COLUMNS = ["normal", "anomaly", "prediction"]
#: Readings of history before a series' scores are trusted in full.
WARMUP = 12
#: The share of each training series' time its thresholds are tuned on (the last part).
TUNE_FRACTION = 0.2
#: A training series is scored by the supervised model when it has this many labelled readings, of
#: which this many anomalies; others (and series never seen) get the unsupervised ensemble.
MIN_LABELLED = 50
MIN_ANOMALIES = 3


@dataclass
class Prepared:
    """Readable input rows, one per (series, time), sorted; and where each input row's answer is."""

    group: np.ndarray
    t_ns: np.ndarray
    x: np.ndarray
    row_to_reading: np.ndarray  # per input row: index into the readings, or -1 (unreadable)
    series: np.ndarray | None = None  # per reading: its series' name

    def in_series(self, names: frozenset[str]) -> np.ndarray:
        """Per reading: whether its series is one of ``names`` (decided once per series)."""
        if self.series is None or not len(self.group):
            return np.zeros(len(self.group), dtype=bool)
        first = series_bounds(self.group)[:-1]
        return np.isin(self.series[first], list(names))[self.group]

    def subset(self, rows: np.ndarray) -> Prepared:
        """The readings where ``rows`` holds (whole series), renumbered; no input-row map."""
        group = pd.factorize(self.group[rows])[0]
        names = self.series[rows] if self.series is not None else None
        return Prepared(group, self.t_ns[rows], self.x[rows], np.zeros(0, dtype=np.int64), names)


def prepare(frame: pd.DataFrame, timezone: str = "UTC") -> Prepared:
    """Parse, drop unreadable rows, keep the last value of a repeated (series, time), sort."""
    n = len(frame)
    series = frame["series"].astype(str).to_numpy() if "series" in frame else np.full(n, "series")
    t = parse_times(frame["time"].reset_index(drop=True), timezone)
    x = parse_values(frame["value"].reset_index(drop=True))
    ok = (t.notna() & x.notna()).to_numpy()
    readings = pd.DataFrame(
        {
            "s": series[ok],
            "t": t[ok].astype("int64").to_numpy(),
            "x": x[ok].to_numpy(),
            "row": np.flatnonzero(ok),
        }
    )
    unique = readings.drop_duplicates(["s", "t"], keep="last").sort_values(["s", "t"], kind="stable")
    group = pd.factorize(unique["s"].to_numpy())[0]
    index = pd.Series(np.arange(len(unique)), index=pd.MultiIndex.from_arrays([unique["s"], unique["t"]]))
    position = index.reindex(pd.MultiIndex.from_arrays([readings["s"], readings["t"]])).to_numpy()
    row_to_reading = np.full(n, -1, dtype=np.int64)
    row_to_reading[readings["row"].to_numpy()] = position.astype(np.int64)
    return Prepared(
        group,
        unique["t"].to_numpy(),
        unique["x"].to_numpy(dtype=float),
        row_to_reading,
        unique["s"].to_numpy(),
    )


#: What a feature without enough history is given to the boosted trees: outside every feature's range
#: (they are clipped to ±50), so a split can single it out (a column of NaN only would not bin).
MISSING = -99.0


def _gbm_inputs(features: pd.DataFrame) -> np.ndarray:
    return features.fillna(MISSING).to_numpy()


def _one_thread() -> Any:
    """Boosted trees on one OpenMP thread: on a shared machine their spinning threads oversubscribe
    the cores and a 1 s fit takes 40 s; these models are small enough for one core."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(v, -50, 50)))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass
class Scorer:
    """A fitted raw scorer: ``kind`` says how to compute the score, ``threshold`` and ``spread``
    how a score becomes a probability."""

    kind: str
    estimator: Any = None
    threshold: float = 0.5
    spread: float = 1.0
    meta: dict = field(default_factory=dict)

    def raw(self, prepared: Prepared, features: pd.DataFrame) -> np.ndarray:
        """The score of every reading (higher: more anomalous); a reading without enough history for a
        feature scores as if that feature were unremarkable."""
        return np.nan_to_num(self._raw(prepared, features), nan=0.0, posinf=50.0, neginf=-50.0)

    def _raw(self, prepared: Prepared, features: pd.DataFrame) -> np.ndarray:
        if self.kind == "zero_only":
            return features["is_zero"].to_numpy()
        if self.kind == "robust_z":
            return np.abs(features["z"].to_numpy())
        if self.kind == "isolation_forest":
            return -self.estimator.score_samples(features.fillna(0.0).to_numpy())
        if self.kind == "gbm":
            with _one_thread():
                return _logit(self.estimator.predict_proba(_gbm_inputs(features))[:, 1])
        if self.kind in ("lstm", "fcn"):
            return _torch_scores(self.estimator, windows(prepared.group, prepared.x))
        raise ValueError(f"unknown scorer kind {self.kind!r}")

    def probability(self, raw: np.ndarray) -> np.ndarray:
        return _sigmoid((raw - self.threshold) / self.spread)


class FlowModel(mlflow.pyfunc.PythonModel):
    """The pyfunc of every flow trainer (see the module docstring for the contract).

    ``scorer`` None is the label-free ensemble alone. ``supervised_series`` names the series the
    scorer is trusted on (None: every series, for a rule such as zero-only); ``blend`` scores them by
    the larger of both probabilities. A model pickled before issue 21 has neither attribute and
    scores every series with its scorer, as it did."""

    def __init__(
        self,
        scorer: Scorer | None,
        timezone: str = "UTC",
        detectors: DetectorConfig | None = None,
        supervised_series: frozenset[str] | None = frozenset(),
        blend: bool = False,
    ):
        self.scorer = scorer
        self.timezone = timezone
        self.detectors = detectors or DetectorConfig()
        self.supervised_series = None if supervised_series is None else frozenset(supervised_series)
        self.blend = blend

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        prepared = prepare(model_input, self.timezone)
        proba = self.reading_probabilities(prepared)
        where = prepared.row_to_reading
        anomaly = np.where(where >= 0, proba[np.maximum(where, 0)] if len(proba) else 0.5, 0.5)
        return pd.DataFrame(
            {
                "normal": 1.0 - anomaly,
                "anomaly": anomaly,
                "prediction": np.where(anomaly > 0.5, "anomaly", "normal"),
            },
            columns=OUTPUT_COLUMNS,
        )

    def reading_probabilities(self, prepared: Prepared) -> np.ndarray:
        """The anomaly probability of every reading: supervised where trusted, ensemble elsewhere."""
        detectors = getattr(self, "detectors", None)
        if detectors is None or (self.scorer is not None and self.supervised_series is None):
            return supervised_probabilities(self.scorer, prepared)  # a rule, or pickled before issue 21
        known = prepared.in_series(self.supervised_series) if self.scorer is not None else None
        if known is None or not known.any():
            return cold_probabilities(prepared, detectors)
        if known.all() and not self.blend:
            return supervised_probabilities(self.scorer, prepared)
        cold = np.ones_like(known) if self.blend else ~known
        out = np.zeros(len(prepared.x))
        out[cold] = cold_probabilities(prepared.subset(cold), detectors)
        supervised = supervised_probabilities(self.scorer, prepared.subset(known))
        out[known] = np.maximum(out[known], supervised) if self.blend else supervised
        return out


def cold_probabilities(prepared: Prepared, detectors: DetectorConfig) -> np.ndarray:
    """The label-free ensemble's probability of every reading, its first ``WARMUP`` readings pulled
    towards 0.5 as the supervised scores are: nothing is known of a series' first readings."""
    z = ensemble_z(prepared.group, prepared.t_ns, prepared.x, detectors)
    proba = anomaly_probability(z, detectors.threshold_z)
    bounds = series_bounds(prepared.group)
    history = np.arange(len(z)) - np.repeat(bounds[:-1], np.diff(bounds))
    return 0.5 + (proba - 0.5) * np.clip(history / WARMUP, 0.0, 1.0)


def supervised_probabilities(scorer: Scorer, prepared: Prepared) -> np.ndarray:
    """A trained scorer's probability of every reading; the first readings of a series are pulled
    towards 0.5 (``WARMUP``), as too little history makes its features unreliable."""
    features = window_features(prepared.group, prepared.t_ns, prepared.x)
    if not len(features):
        return np.zeros(0)
    proba = scorer.probability(scorer.raw(prepared, features))
    trust = np.clip(features["history"].to_numpy() / WARMUP, 0.0, 1.0)
    return 0.5 + (proba - 0.5) * trust


def pip_requirements() -> list[str]:
    import sklearn
    import torch

    return [
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"pandas=={pd.__version__}",
        f"numpy=={np.__version__}",
        f"torch=={torch.__version__.split('+')[0]}",
    ]


# -- training data ---------------------------------------------------------------------------------


@dataclass
class TrainingData:
    prepared: Prepared
    features: pd.DataFrame
    y: np.ndarray  # per reading: 1 anomaly, 0 normal
    fit: np.ndarray  # per reading: a labelled point (not only context for its neighbours' windows)
    tune: np.ndarray  # per reading: in the last TUNE_FRACTION of its series' time


def training_data(frame: pd.DataFrame) -> TrainingData:
    """Features of every training reading; labels; which rows fit and which tune thresholds."""
    prepared = prepare(frame)
    features = window_features(prepared.group, prepared.t_ns, prepared.x)
    where = prepared.row_to_reading
    ok = where >= 0
    y = np.zeros(len(features))
    fit = np.zeros(len(features), dtype=bool)
    label = frame["label"].astype(str).to_numpy()
    scored = frame["scored"].to_numpy(dtype=bool) if "scored" in frame else np.ones(len(frame), dtype=bool)
    y[where[ok]] = label[ok] == "anomaly"
    fit[where[ok]] = scored[ok]
    t = prepared.t_ns.astype(float)
    lo = pd.Series(t).groupby(prepared.group).transform("min").to_numpy()
    hi = pd.Series(t).groupby(prepared.group).transform("max").to_numpy()
    tune = t >= lo + (1 - TUNE_FRACTION) * (hi - lo)
    return TrainingData(prepared, features, y, fit, tune & fit)


def best_threshold(raw: np.ndarray, y: np.ndarray) -> float:
    """The score threshold with the best point-wise F1 on these readings, set midway between the
    lowest score it flags and the highest score below that: the widest margin, so a refitted model
    whose anomalies score a little lower than the tuning model's still flags them."""
    from sklearn.metrics import precision_recall_curve

    if y.sum() == 0 or len(np.unique(raw)) < 2:
        return float(np.max(raw)) if len(raw) else 0.5
    precision, recall, thresholds = precision_recall_curve(y, raw)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f1[:-1]))
    below = raw[raw < thresholds[best]]
    lower = float(np.max(below)) if len(below) else float(thresholds[best]) - 1.0
    return float((thresholds[best] + lower) / 2)


def _spread(raw: np.ndarray) -> float:
    q75, q25 = np.nanpercentile(raw, [75, 25]) if len(raw) else (1.0, 0.0)
    return float(max((q75 - q25) / 1.349, 1e-3))


def trusted_series(data: TrainingData) -> frozenset[str]:
    """Training series with enough labels for the supervised scorer (``MIN_LABELLED``,
    ``MIN_ANOMALIES``)."""
    frame = pd.DataFrame({"s": data.prepared.series, "fit": data.fit, "y": data.y * data.fit})
    counts = frame.groupby("s").agg(labelled=("fit", "sum"), anomalies=("y", "sum"))
    keep = (counts["labelled"] >= MIN_LABELLED) & (counts["anomalies"] >= MIN_ANOMALIES)
    return frozenset(counts.index[keep].astype(str))


def _f1(truth: np.ndarray, flagged: np.ndarray) -> float:
    tp = float((truth & flagged).sum())
    return 2 * tp / max(float(truth.sum() + flagged.sum()), 1.0)


def blend_helps(scorer: Scorer, data: TrainingData, known: frozenset[str], detectors: DetectorConfig) -> bool:
    """Whether the blend flags the trusted series' last part (``tune`` rows) better than the
    supervised scorer alone: the evidence for scoring known series by both."""
    rows = data.prepared.in_series(known)
    tune, truth = data.tune[rows], data.y[rows][data.tune[rows]].astype(bool)
    if not truth.any():
        return False
    subset = data.prepared.subset(rows)
    supervised = supervised_probabilities(scorer, subset)
    blended = np.maximum(supervised, cold_probabilities(subset, detectors))
    return _f1(truth, blended[tune] > 0.5) > _f1(truth, supervised[tune] > 0.5)


def _model(
    scorer: Scorer | None, data: TrainingData | None = None, evidence: Scorer | None = None
) -> FlowModel:
    """The pyfunc of a scorer: trusted on the training series with enough labels, blended with the
    ensemble there when ``evidence`` (a scorer that did not fit the tune rows, else ``scorer``) says
    it helps; the ensemble everywhere else. Without training data the scorer is a rule for all."""
    from orchestration.settings import get_settings

    detectors = DetectorConfig()
    timezone = get_settings().flow_timezone
    if scorer is None or data is None:
        return FlowModel(scorer, timezone, detectors, None if scorer is not None else frozenset())
    known = trusted_series(data)
    blend = bool(known) and blend_helps(evidence or scorer, data, known, detectors)
    return FlowModel(scorer, timezone, detectors, known, blend)


def _tuned(scorer: Scorer, data: TrainingData, spread: float | None = None) -> FlowModel:
    raw = scorer.raw(data.prepared, data.features)
    rows = data.fit
    scorer.threshold = best_threshold(raw[rows], data.y[rows])
    scorer.spread = spread if spread is not None else _spread(raw[rows])
    return _model(scorer, data)


def train_zero_only(frame: pd.DataFrame, labels: list[str], seed: int) -> FlowModel:
    """The rule the issue compares with: a reading of exactly 0 is an anomaly."""
    return _model(Scorer("zero_only", threshold=0.5, spread=0.1))


def train_ensemble(frame: pd.DataFrame, labels: list[str], seed: int) -> FlowModel:
    """The label-free ensemble alone (``assets.flow.detectors``): what every series is scored by
    before it has labels, competing here as a model of its own."""
    return _model(None)


def train_robust_z(frame: pd.DataFrame, labels: list[str], seed: int) -> FlowModel:
    """Unsupervised baseline: |robust z| against the previous T readings; the threshold from labels."""
    return _tuned(Scorer("robust_z"), training_data(frame))


def train_isolation_forest(frame: pd.DataFrame, labels: list[str], seed: int) -> FlowModel:
    """Unsupervised baseline (as in the seed): isolation forest on the window features."""
    from sklearn.ensemble import IsolationForest

    data = training_data(frame)
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(data.fit)
    sample = rng.choice(rows, size=min(len(rows), 20_000), replace=False)
    forest = IsolationForest(n_estimators=100, random_state=seed, n_jobs=1)
    forest.fit(data.features.fillna(0.0).to_numpy()[sample])
    return _tuned(Scorer("isolation_forest", forest), data)


def train_gbm(frame: pd.DataFrame, labels: list[str], seed: int, max_iter: int = 200) -> FlowModel:
    """Gradient boosting on the window features: fitted on all but the last part of each series,
    its threshold tuned there, then refitted on everything with that threshold."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    data = training_data(frame)
    x = _gbm_inputs(data.features)

    def fit(rows: np.ndarray) -> Any:
        model = HistGradientBoostingClassifier(
            max_iter=max_iter,
            learning_rate=0.1,
            max_leaf_nodes=31,
            l2_regularization=1.0,
            class_weight="balanced",
            random_state=seed,
        )
        with _one_thread():
            return model.fit(x[rows], data.y[rows].astype(int))

    early = data.fit & ~data.tune
    if data.y[early].sum() and data.y[data.tune].sum():
        first = Scorer("gbm", fit(early))
        raw = first.raw(data.prepared, data.features)
        threshold = best_threshold(raw[data.tune], data.y[data.tune])
    else:
        first, threshold = None, 0.0
    scorer = Scorer("gbm", fit(data.fit), threshold=threshold, spread=1.0)
    if first is not None:
        first.threshold = threshold
    return _model(scorer, data, evidence=first)


# -- the seed's chunk classifiers (PyTorch) ---------------------------------------------------------


def _torch_net(arch: str) -> Any:
    from assets.flow.nets import FCN, LSTMNet

    return LSTMNet() if arch == "lstm" else FCN()


def _torch_scores(net: Any, batch: np.ndarray, size: int = 4096) -> np.ndarray:
    import torch

    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(batch), size):
            out.append(net(torch.from_numpy(batch[i : i + size])).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def train_torch(
    frame: pd.DataFrame,
    labels: list[str],
    seed: int,
    arch: str = "fcn",
    epochs: int = 4,
    max_windows: int = 30_000,
) -> FlowModel:
    """A chunk classifier on the last T readings of every point (is the newest reading anomalous?):
    every anomalous window and a sample of normal ones, weighted to balance, CPU, few epochs."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    data = training_data(frame)
    win = windows(data.prepared.group, data.prepared.x, T)
    rng = np.random.default_rng(seed)
    train_rows = data.fit & ~data.tune if data.y[data.fit & ~data.tune].sum() else data.fit
    positives = np.flatnonzero(train_rows & (data.y == 1))
    negatives = np.flatnonzero(train_rows & (data.y == 0))
    keep_neg = rng.choice(
        negatives, size=min(len(negatives), max(max_windows - len(positives), 1)), replace=False
    )
    rows = np.concatenate([positives[:max_windows], keep_neg])
    x = torch.from_numpy(win[rows])
    y = torch.from_numpy(data.y[rows].astype(np.float32))
    weight = torch.tensor(max(len(keep_neg), 1) / max(len(positives), 1), dtype=torch.float32)
    net = _torch_net(arch)
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=weight)
    for _ in range(epochs):
        net.train()
        order = torch.from_numpy(rng.permutation(len(rows)))
        for i in range(0, len(rows), 256):
            idx = order[i : i + 256]
            if len(idx) < 2:
                continue
            optimiser.zero_grad()
            loss = loss_fn(net(x[idx]), y[idx])
            loss.backward()
            optimiser.step()
    scorer = Scorer(arch, net, spread=1.0)
    raw = scorer.raw(data.prepared, data.features)
    tune = data.tune if data.y[data.tune].sum() else data.fit
    scorer.threshold = best_threshold(raw[tune], data.y[tune])
    return _model(scorer, data)


def train_lstm(frame: pd.DataFrame, labels: list[str], seed: int) -> FlowModel:
    return train_torch(frame, labels, seed, arch="lstm", epochs=3, max_windows=20_000)


def train_fcn(frame: pd.DataFrame, labels: list[str], seed: int) -> FlowModel:
    return train_torch(frame, labels, seed, arch="fcn", epochs=4, max_windows=30_000)


TRAINERS = {
    "gbm": train_gbm,
    "isolation_forest": train_isolation_forest,
    "robust_z": train_robust_z,
    "ensemble": train_ensemble,
    "fcn": train_fcn,
    "lstm": train_lstm,
}


def train_gbm_small(frame: pd.DataFrame, labels: list[str], seed: int) -> FlowModel:
    """The gradient boosting challenger with few trees: for tests, where the pipeline, not the
    model's quality, is under test."""
    return train_gbm(frame, labels, seed, max_iter=40)


def train_fcn_tiny(frame: pd.DataFrame, labels: list[str], seed: int) -> FlowModel:
    """The FCN chunk classifier at one epoch on a few hundred windows: for tests."""
    return train_torch(frame, labels, seed, arch="fcn", epochs=1, max_windows=300)


#: Chosen only by run config (and reported beside the others): the rule a detector must beat, and
#: small trainers that keep the tests fast.
EXTRA_TRAINERS = {"zero_only": train_zero_only, "gbm_small": train_gbm_small, "fcn_tiny": train_fcn_tiny}
