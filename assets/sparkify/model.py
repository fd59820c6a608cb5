"""The served churn model: events (the 18 fields, any users, any order) → :func:`user_features` →
classifier → one row per ``userId``: ``userId``, ``churn_probability``, ``prediction``.

Three trainers honour the trainer contract (``(train_df, labels, seed) -> PythonModel``), all on the
feature rows of ``sparkify_user_features`` (a user at a cutoff), with balanced class weights (churn is
the rare class):

``spark_random_forest`` and ``spark_logistic_regression``
    the seed's Spark MLlib models, fitted by Spark and converted to NumPy for serving (no JVM in the
    pyfunc): the forest through :func:`assets.activity.model.forest_arrays`, the regression as its
    coefficients and intercept (MLlib reports them on the original scale).
``hist_gradient_boosting``
    scikit-learn's gradient-boosted trees (native NaN handling).
``volume_logistic_regression``
    a logistic regression on a handful of usage counts (:data:`VOLUME_FEATURES`); on the real
    eventsim log it ranks best, because eventsim's cancellations are a per-event chance and what a
    user did so far is mostly noise beyond how much they used the service.

**As of when.** A user's features describe the moment ``as_of``: by default the user's latest ``ts``
in the input (so a user's risk is the same alone or mixed with others); an optional ``as_of`` column
(ms, per row; the latest per user counts) moves it. Training rows are built the same way (as of the
user's last event before the cutoff, :func:`assets.sparkify.features.examples`) and the models read
:data:`MODEL_FEATURES`, which leave out the as-of-to-last-event gap (always 0 when served): no
train/serve skew. ``churn_probability`` is the probability of a ``Cancellation Confirmation`` within
the horizon after that moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from assets.sparkify.features import MODEL_FEATURES, user_features

CHURN, STAY = "churn", "stay"
LABELS = (CHURN, STAY)
AS_OF = "as_of"
OUTPUT_COLUMNS = ("userId", "churn_probability", "prediction")


def _matrix(features: pd.DataFrame) -> np.ndarray:
    return features[list(MODEL_FEATURES)].to_numpy(dtype=float)


@dataclass
class LogisticArrays:
    """A fitted logistic regression as arrays (NaN replaced by the training medians)."""

    coefficients: np.ndarray
    intercept: float
    medians: np.ndarray

    def churn_proba(self, features: pd.DataFrame) -> np.ndarray:
        x = _matrix(features)
        x = np.where(np.isnan(x), self.medians, x)
        return 1.0 / (1.0 + np.exp(-(x @ self.coefficients + self.intercept)))


@dataclass
class ForestChurn:
    """A Spark random forest (``ForestArrays``) over :data:`MODEL_FEATURES`; class 1 = churn."""

    forest: Any

    def churn_proba(self, features: pd.DataFrame) -> np.ndarray:
        f = self.forest
        x = _matrix(features)
        x = np.where(np.isnan(x), f.medians, x)
        rows = np.arange(len(x))[:, None]
        nodes = np.broadcast_to(f.roots, (len(x), len(f.roots))).copy()
        while (internal := f.feature[nodes] >= 0).any():
            goes_left = x[rows, np.maximum(f.feature[nodes], 0)] <= f.threshold[nodes]
            nodes = np.where(internal, np.where(goes_left, f.left[nodes], f.right[nodes]), nodes)
        votes = f.leaf_votes[nodes].sum(axis=1)
        totals = votes.sum(axis=1)
        churn = votes[:, 1] if votes.shape[1] > 1 else np.zeros(len(x))
        return churn / np.where(totals > 0, totals, 1.0)


@dataclass
class SklearnChurn:
    estimator: Any

    def churn_proba(self, features: pd.DataFrame) -> np.ndarray:
        with threadpool_limits(1):
            proba = self.estimator.predict_proba(features[list(MODEL_FEATURES)].astype(float))
        return proba[:, list(self.estimator.classes_).index(1)]


def _as_of(events: pd.DataFrame) -> pd.Series | None:
    """The per-user ``as_of`` from the optional column (latest per user), else None."""
    if AS_OF not in events.columns:
        return None
    stamps = pd.to_numeric(events[AS_OF], errors="coerce")
    users = events["userId"].astype(str)
    latest = stamps.groupby(users).max()
    return latest.dropna().astype("int64") if latest.notna().all() else None


def prepare_events(model_input: pd.DataFrame) -> pd.DataFrame:
    """Events as they come off JSON: numbers may be strings, ``userId`` a number or null."""
    events = model_input.copy()
    events["userId"] = events["userId"].map(lambda v: "" if v is None or v != v else str(v))
    events["userId"] = events["userId"].str.replace(r"\.0$", "", regex=True)
    for column in ("ts", "registration", "sessionId", "length"):
        if column in events.columns:
            events[column] = pd.to_numeric(events[column], errors="coerce")
    return events.dropna(subset=["ts"])


class SparkifyModel(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc over Sparkify events: one row per ``userId`` present (first-appearance order)."""

    def __init__(self, classifier: Any, threshold: float = 0.5) -> None:
        self.classifier = classifier
        self.threshold = threshold

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        events = prepare_events(model_input)
        users = events.loc[events["userId"] != "", "userId"].drop_duplicates()
        features = user_features(events, as_of=_as_of(events)).reindex(users.to_numpy())
        proba = self.classifier.churn_proba(features) if len(features) else np.zeros(0)
        return pd.DataFrame(
            {
                "userId": users.to_numpy(dtype=object),
                "churn_probability": proba,
                "prediction": (proba >= self.threshold).astype(int),
            }
        )


#: What :func:`train_volume_logistic_regression` reads: how much a user has used the service so far.
#: On the real eventsim development log these counts are the signal (n_sessions alone ranks the
#: 30-day cancellations at ROC AUC 0.66 over daily cutoffs) while the sixty-odd rates and shares mostly
#: add noise: every model over all of them ranks worse (0.53-0.60) than this handful does.
VOLUME_FEATURES: tuple[str, ...] = (
    "n_sessions", "days_active", "n_events", "n_songs", "n_add_playlist", "n_thumbs_up",
)  # fmt: skip


def _volume_matrix(features: pd.DataFrame) -> np.ndarray:
    """``log1p`` of :data:`VOLUME_FEATURES` (negative and missing counts read as 0), fit and serve alike."""
    counts = np.maximum(features[list(VOLUME_FEATURES)].to_numpy(dtype=float), 0.0)
    return np.nan_to_num(np.log1p(counts), nan=0.0)


@dataclass
class VolumeLogistic:
    """Logistic regression on ``log1p`` of :data:`VOLUME_FEATURES`, standardised (plain arrays)."""

    mean: np.ndarray
    scale: np.ndarray
    coefficients: np.ndarray
    intercept: float

    def churn_proba(self, features: pd.DataFrame) -> np.ndarray:
        z = (_volume_matrix(features) - self.mean) / self.scale
        return 1.0 / (1.0 + np.exp(-(z @ self.coefficients + self.intercept)))


def _xy(train_df: pd.DataFrame, labels: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    unknown = set(train_df["churn"].astype(str)) - set(labels)
    if unknown:
        raise ValueError(f"training rows with labels outside {labels}: {sorted(unknown)}")
    y = (train_df["churn"].astype(str) == CHURN).to_numpy(dtype=int)
    return train_df[list(MODEL_FEATURES)].astype(float), y


def _balanced_weights(y: np.ndarray) -> np.ndarray:
    positives = max(int(y.sum()), 1)
    negatives = max(len(y) - int(y.sum()), 1)
    return np.where(y == 1, len(y) / (2 * positives), len(y) / (2 * negatives))


def _row_weights(train_df: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    """Balanced classes, and every user the same total weight whatever their number of cutoffs: a
    user active at twenty cutoffs would otherwise count twenty times as much as one seen once. Mean 1."""
    if "userId" not in train_df.columns:
        return _balanced_weights(y)
    per_user = train_df["userId"].astype(str).map(train_df["userId"].astype(str).value_counts())
    weights = _balanced_weights(y) / per_user.to_numpy(dtype=float)
    return weights * len(weights) / weights.sum()


def train_hist_gradient_boosting(train_df: pd.DataFrame, labels: list[str], seed: int = 0) -> SparkifyModel:
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y = _xy(train_df, labels)
    with threadpool_limits(1):
        estimator = HistGradientBoostingClassifier(
            learning_rate=0.05,
            max_iter=200,
            max_depth=3,
            min_samples_leaf=int(np.clip(len(x) // 50, 5, 40)),
            l2_regularization=1.0,
            random_state=seed,
        ).fit(x, y, sample_weight=_row_weights(train_df, y))
    return SparkifyModel(SklearnChurn(estimator))


def train_volume_logistic_regression(
    train_df: pd.DataFrame, labels: list[str], seed: int = 0
) -> SparkifyModel:
    """Few features, little variance: the trainer that holds on the real log (module docstring)."""
    from sklearn.linear_model import LogisticRegression

    _, y = _xy(train_df, labels)
    x = _volume_matrix(train_df)
    mean, scale = x.mean(axis=0), np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
    fitted = LogisticRegression(C=1.0, max_iter=2000, random_state=seed).fit(
        (x - mean) / scale, y, sample_weight=_row_weights(train_df, y)
    )
    return SparkifyModel(VolumeLogistic(mean, scale, fitted.coef_[0], float(fitted.intercept_[0])))


def _spark_frame(train_df: pd.DataFrame, labels: list[str]) -> tuple[Any, np.ndarray]:
    """(Spark DataFrame of NaN-filled features, label, weight; the medians used to fill)."""
    from pyspark.ml.feature import VectorAssembler

    from resources.spark import project_spark_session

    x, y = _xy(train_df, labels)
    medians = np.nan_to_num(np.nanmedian(x.to_numpy(dtype=float), axis=0), nan=0.0)
    filled = x.fillna(pd.Series(medians, index=x.columns)).assign(_label=y.astype(float))
    filled["_weight"] = _row_weights(train_df, y)
    spark = project_spark_session()
    frame = spark.createDataFrame(filled)
    assembled = VectorAssembler(inputCols=list(MODEL_FEATURES), outputCol="_features").transform(frame)
    return assembled, medians


def train_spark_random_forest(train_df: pd.DataFrame, labels: list[str], seed: int = 0) -> SparkifyModel:
    from pyspark.ml.classification import RandomForestClassifier

    from assets.activity.model import forest_arrays

    data, medians = _spark_frame(train_df, labels)
    model = RandomForestClassifier(
        featuresCol="_features", labelCol="_label", weightCol="_weight", numTrees=60, maxDepth=6,
        featureSubsetStrategy="sqrt", seed=seed,
    ).fit(data)  # fmt: skip
    return SparkifyModel(ForestChurn(forest_arrays(model, medians, 2)))


def train_spark_logistic_regression(
    train_df: pd.DataFrame, labels: list[str], seed: int = 0
) -> SparkifyModel:
    from pyspark.ml.classification import LogisticRegression

    data, medians = _spark_frame(train_df, labels)
    model = LogisticRegression(
        featuresCol="_features", labelCol="_label", weightCol="_weight", maxIter=100, regParam=0.01,
        elasticNetParam=0.0, standardization=True,
    ).fit(data)  # fmt: skip
    arrays = LogisticArrays(model.coefficients.toArray(), float(model.intercept), medians)
    return SparkifyModel(arrays)


TRAINERS = {
    "spark_random_forest": train_spark_random_forest,
    "spark_logistic_regression": train_spark_logistic_regression,
    "hist_gradient_boosting": train_hist_gradient_boosting,
    "volume_logistic_regression": train_volume_logistic_regression,
}


def pip_requirements() -> list[str]:
    return [
        f"{name}=={version(name)}"
        for name in ("mlflow", "numpy", "pandas", "scikit-learn", "cloudpickle", "threadpoolctl")
    ]


# -- lifecycle hooks ------------------------------------------------------------------------------
def events_table_path() -> Path:
    from orchestration.settings import get_settings

    return get_settings().data_dir("tables", "sparkify") / "events"


def user_history(users: list[str], before: int | None = None, path: Path | None = None) -> pd.DataFrame:
    """The clean events of ``users`` (optionally only before ``before`` ms) from the events table."""
    import pyarrow.dataset as ds

    dataset = ds.dataset(str(path or events_table_path()), format="parquet")
    condition = ds.field("userId").isin([str(u) for u in users])
    if before is not None:
        condition &= ds.field("ts") < before
    return dataset.to_table(filter=condition).to_pandas()


def frozen_history(rows: pd.DataFrame) -> pd.DataFrame:
    """``LifecycleSpec.holdout_inputs``: the held-out users' events before each one's last cutoff,
    frozen with the holdout version, so that late events never change what it is scored on."""
    users = rows["userId"].astype(str)
    history = user_history(sorted(users.unique()))
    last_cutoff = rows.groupby(users)["cutoff"].max()
    before = pd.to_numeric(history["ts"]) < history["userId"].astype(str).map(last_cutoff).to_numpy()
    return history[before].reset_index(drop=True)


def score_examples(predict: Any, frame: pd.DataFrame, history: pd.DataFrame | None = None) -> pd.DataFrame:
    """``LifecycleSpec.score_rows``: each (user, cutoff) row scored through the pyfunc contract on that
    user's events before the cutoff, exactly as served (no ``as_of`` column: as of the user's latest
    ``ts``, which is the row's ``as_of``); one row per frame row (``churn``, ``stay``, ``prediction``)."""
    if history is None:
        history = user_history(sorted(frame["userId"].astype(str).unique()))
    history = history.assign(userId=history["userId"].astype(str))
    out = pd.Series(np.nan, index=frame.index)
    for cutoff, rows in frame.groupby("cutoff"):
        events = history[history["userId"].isin(set(rows["userId"].astype(str))) & (history["ts"] < cutoff)]
        scored = predict(events)
        proba = scored.set_index("userId")["churn_probability"]
        out.loc[rows.index] = rows["userId"].astype(str).map(proba).to_numpy()
    if out.isna().any():
        raise ValueError(
            f"{int(out.isna().sum())} rows got no score: their users have no events before the cutoff"
        )
    proba = out.to_numpy(dtype=float)
    return pd.DataFrame(
        {CHURN: proba, STAY: 1.0 - proba, "prediction": np.where(proba >= 0.5, CHURN, STAY)},
        index=frame.index,
    )


def churn_metrics(frame: pd.DataFrame, predictions: pd.DataFrame, labels: list[str]) -> dict[str, float]:
    """PR AUC of the churn class (primary), ROC AUC, churn prevalence (the PR AUC of a random ranking)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = (frame["churn"].astype(str) == CHURN).to_numpy(dtype=int)
    p = predictions[CHURN].to_numpy(dtype=float)
    both = 0 < y.sum() < len(y)
    pr_auc = float(average_precision_score(y, p)) if both else float("nan")
    return {
        "pr_auc": pr_auc,
        "pr_auc_lift": pr_auc - float(y.mean()) if both else float("nan"),
        "roc_auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "churn_prevalence": float(y.mean()) if len(y) else float("nan"),
        "brier": float(np.mean((p - y) ** 2)) if len(y) else float("nan"),
    }


def reliability_figure(
    frame: pd.DataFrame, predictions: pd.DataFrame, labels: list[str], folder: Path
) -> list[Path]:
    """Calibration: observed churn rate per bin of predicted probability (the diagonal is perfect)."""
    from matplotlib.figure import Figure

    y = (frame["churn"].astype(str) == CHURN).to_numpy(dtype=int)
    p = predictions[CHURN].to_numpy(dtype=float)
    bins = np.clip((p * 10).astype(int), 0, 9)
    figure = Figure(figsize=(5, 5))
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    observed = [
        (p[bins == b].mean(), y[bins == b].mean(), (bins == b).sum()) for b in range(10) if (bins == b).any()
    ]
    if observed:
        xs, ys, ns = zip(*observed, strict=True)
        axes.plot(xs, ys, marker="o", label="model")
        for x_, y_, n in observed:
            axes.annotate(str(n), (x_, y_), fontsize=7)
    axes.set(xlabel="predicted churn probability", ylabel="observed churn rate", xlim=(0, 1), ylim=(0, 1))
    axes.set_title("reliability (rows per bin)")
    axes.legend(loc="upper left")
    path = folder / "reliability.png"
    figure.savefig(path, format="png", dpi=90)
    return [path]
