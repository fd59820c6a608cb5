"""The served activity model: layout-(b) records → :func:`window_features` → classifier → class probabilities.

Two trainers honour the model contract (``(train_df, labels, seed) -> PythonModel``):

``spark_random_forest``
    Spark MLlib's ``RandomForestClassifier``, the seed project's choice, trained on a Spark DataFrame
    of features. For serving, the fitted forest is converted to plain arrays and evaluated with NumPy,
    so the pyfunc needs no JVM (and this module imports pyspark only inside the Spark functions):
    Spark's own writer saves the model, its node table is read back (split feature and threshold,
    children, per-leaf class counts), and prediction repeats Spark's rule exactly: a value goes left
    when ``value <= threshold``, each tree votes with its leaf's class counts normalised to sum 1,
    and the votes are normalised again. Missing features (NaN) are replaced by the training medians
    before both training and serving, as MLlib cannot split on NaN.
``hist_gradient_boosting``
    scikit-learn's ``HistGradientBoostingClassifier``: boosting usually beats bagging on tabular
    features, handles NaN natively, and ``class_weight="balanced"`` keeps rare activities from being
    ignored. Regularised for small data (shallow trees, small leaves scaled with the data size) and
    early stopping once there is enough data to hold some out (sklearn's ``"auto"``: > 10,000 rows).

Class names always come from the ``labels`` argument (the training data), in that order; a class
with no training row gets probability 0.

Units: features are computed in g and rad/s. A model trained on windows from watches that record
m/s² or deg/s (declared in ``activity_sensors.json``, converted at ingest) keeps those input units
and converts each record before its features, since records on ``activity.records`` come from the
same watches (:mod:`assets.activity.units`); the trainers read the units from the training table.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, Protocol

import mlflow.pyfunc
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from assets.activity.features import FEATURE_NAMES, window_features
from assets.activity.layouts import LABEL_COLUMN
from assets.activity.units import CANONICAL, SensorUnits, to_canonical, training_windows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PREDICTION = "prediction"
#: Below this many rows OpenMP threads cost more than they save, and on a shared machine far more.
_SINGLE_THREAD_ROWS = 50_000
_INDEX = "_label_index"
#: What the forest needs from the node table Spark's tree-ensemble writer saves under ``data/``.
_NODE_COLUMNS = (
    "treeID",
    "nodeData.id",
    "nodeData.impurityStats",
    "nodeData.leftChild",
    "nodeData.rightChild",
    "nodeData.split.featureIndex",
    "nodeData.split.leftCategoriesOrThreshold",
)


class Classifier(Protocol):
    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        """(rows, classes) probabilities, columns in the model's class order."""


class ActivityModel(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc over raw window records (layout b, no label): one probability column per class.

    ``input_units`` are the units records arrive in; they are converted to g and rad/s first.
    """

    def __init__(
        self, classifier: Classifier, classes: list[str], input_units: SensorUnits = CANONICAL
    ) -> None:
        self.classifier = classifier
        self.classes = list(classes)
        self.input_units = input_units

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        units = getattr(self, "input_units", CANONICAL)  # models pickled before units existed
        features = window_features(to_canonical(model_input, units))
        probabilities = self.classifier.predict_proba(features)
        result = pd.DataFrame(probabilities, columns=self.classes, index=model_input.index)
        result[PREDICTION] = np.asarray(self.classes, dtype=object)[probabilities.argmax(axis=1)]
        return result


def _label_indices(train_df: pd.DataFrame, labels: list[str]) -> np.ndarray:
    """Each row's position in ``labels``; refuses unlabelled rows and labels outside ``labels``."""
    indices = train_df[LABEL_COLUMN].map({label: i for i, label in enumerate(labels)})
    if indices.isna().any():
        unknown = sorted(map(str, train_df.loc[indices.isna(), LABEL_COLUMN].unique()))
        raise ValueError(f"training rows with labels outside {labels}: {unknown}")
    return indices.to_numpy(dtype=int)


@dataclass
class SklearnClassifier:
    """A fitted scikit-learn estimator with its probability columns aligned to ``n_classes``."""

    estimator: Any
    n_classes: int

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        probabilities = np.zeros((len(features), self.n_classes))
        with threadpool_limits(1 if len(features) < _SINGLE_THREAD_ROWS else None):
            probabilities[:, self.estimator.classes_] = self.estimator.predict_proba(features)
        return probabilities


def train_hist_gradient_boosting(train_df: pd.DataFrame, labels: list[str], seed: int = 0) -> ActivityModel:
    """Gradient-boosted trees on the window features."""
    y = _label_indices(train_df, labels)
    windows, units = training_windows(train_df)
    with threadpool_limits(1 if len(train_df) < _SINGLE_THREAD_ROWS else None):
        estimator = HistGradientBoostingClassifier(
            learning_rate=0.05,
            max_iter=300,
            max_depth=4,
            min_samples_leaf=int(np.clip(len(train_df) // 100, 3, 20)),
            l2_regularization=1.0,
            class_weight="balanced",
            early_stopping="auto",
            random_state=seed,
        ).fit(window_features(windows), y)
    return ActivityModel(SklearnClassifier(estimator, len(labels)), labels, units)


@dataclass
class ForestArrays:
    """A Spark random forest as flat node arrays (all trees concatenated), evaluated with NumPy."""

    roots: np.ndarray  # (trees,) index of each tree's root node
    feature: np.ndarray  # split feature per node; -1 for leaves
    threshold: np.ndarray
    left: np.ndarray  # global node index of the left child; -1 for leaves
    right: np.ndarray
    leaf_votes: np.ndarray  # (nodes, classes): leaf class counts normalised to sum 1, zero elsewhere
    medians: np.ndarray  # per feature, replaces NaN
    n_classes: int

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        x = features[list(FEATURE_NAMES)].to_numpy(dtype=float)
        x = np.where(np.isnan(x), self.medians, x)
        rows = np.arange(len(x))[:, None]
        nodes = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        while (internal := self.feature[nodes] >= 0).any():
            goes_left = x[rows, np.maximum(self.feature[nodes], 0)] <= self.threshold[nodes]
            nodes = np.where(internal, np.where(goes_left, self.left[nodes], self.right[nodes]), nodes)
        votes = self.leaf_votes[nodes].sum(axis=1)
        totals = votes.sum(axis=1, keepdims=True)
        probabilities = np.zeros((len(x), self.n_classes))
        probabilities[:, : votes.shape[1]] = votes / np.where(totals > 0, totals, 1.0)
        return probabilities


def _forest_arrays(nodes: pd.DataFrame, medians: np.ndarray, n_classes: int) -> ForestArrays:
    """Flatten Spark's saved node table (one row per node, see :data:`_NODE_COLUMNS`)."""
    nodes = nodes.sort_values(["treeID", "id"], ignore_index=True)  # ids are 0..n-1 within a tree
    offsets = nodes.groupby("treeID").size().cumsum().shift(fill_value=0)
    base = nodes["treeID"].map(offsets).to_numpy()
    leaf = nodes["leftChild"].to_numpy() < 0
    stats = np.stack([np.asarray(s, dtype=float) for s in nodes["impurityStats"]])
    sums = stats.sum(axis=1, keepdims=True)
    return ForestArrays(
        roots=offsets.to_numpy(dtype=int),
        feature=np.where(leaf, -1, nodes["featureIndex"].to_numpy()).astype(int),
        threshold=np.array([t[0] if len(t) else np.nan for t in nodes["leftCategoriesOrThreshold"]]),
        left=np.where(leaf, -1, base + nodes["leftChild"].to_numpy()).astype(int),
        right=np.where(leaf, -1, base + nodes["rightChild"].to_numpy()).astype(int),
        leaf_votes=np.where(leaf[:, None], stats / np.where(sums > 0, sums, 1.0), 0.0),
        medians=medians,
        n_classes=n_classes,
    )


def fit_spark_random_forest(
    features: DataFrame,
    labels: list[str],
    seed: int = 0,
    num_trees: int = 100,
    max_depth: int = 10,
    scratch_dir: str | None = None,
    input_units: SensorUnits = CANONICAL,
) -> ActivityModel:
    """Random forest on a Spark DataFrame of :data:`FEATURE_NAMES` and ``activity_label``
    (``scratch_dir``: see :func:`forest_arrays`; ``input_units``: what served records arrive in)."""
    from pyspark.ml.classification import RandomForestClassifier
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import functions as F

    mapping = F.create_map(*[F.lit(x) for i, label in enumerate(labels) for x in (label, i)])
    data = features.withColumn(_INDEX, F.try_element_at(mapping, F.col(LABEL_COLUMN)).cast("double"))
    if data.where(F.col(_INDEX).isNull()).limit(1).count():
        raise ValueError(f"training rows with labels outside {labels}")
    present = [F.when(~F.isnan(c), F.col(c)) for c in FEATURE_NAMES]
    row = data.agg(
        *[F.percentile_approx(p, 0.5).alias(c) for p, c in zip(present, FEATURE_NAMES, strict=True)]
    )
    medians = np.array([np.nan if v is None else v for v in row.first()], dtype=float)
    medians = np.nan_to_num(medians, nan=0.0)  # a feature never observed: any constant will do
    filled = data.select(
        *[
            F.coalesce(p, F.lit(float(m))).alias(c)
            for p, c, m in zip(present, FEATURE_NAMES, medians, strict=True)
        ],
        _INDEX,
    )
    assembled = VectorAssembler(inputCols=list(FEATURE_NAMES), outputCol="_features").transform(filled)
    model = RandomForestClassifier(
        featuresCol="_features",
        labelCol=_INDEX,
        numTrees=num_trees,
        maxDepth=max_depth,
        featureSubsetStrategy="sqrt",
        seed=seed,
    ).fit(assembled)
    return ActivityModel(forest_arrays(model, medians, len(labels), scratch_dir), labels, input_units)


def forest_arrays(
    model: Any, medians: np.ndarray, n_classes: int, scratch_dir: str | None = None
) -> ForestArrays:
    """A fitted ``RandomForestClassificationModel`` as :class:`ForestArrays`, read back from Spark's writer.

    ``scratch_dir`` receives the saved model (a temporary local directory by default; give a shared
    path such as ``s3a://`` when the executors are on other machines).
    """
    from resources.spark import project_spark_session

    spark = project_spark_session()
    directory = scratch_dir or tempfile.mkdtemp(prefix="activity-rf-")
    try:
        model.write().overwrite().save(directory)
        nodes = spark.read.parquet(f"{directory}/data").select(*_NODE_COLUMNS).toPandas()
    finally:
        if scratch_dir is None:
            shutil.rmtree(directory, ignore_errors=True)
    return _forest_arrays(nodes, medians, n_classes)


def train_spark_random_forest(train_df: pd.DataFrame, labels: list[str], seed: int = 0) -> ActivityModel:
    """The trainer-contract entry: features in pandas, the forest fitted by Spark (the current session)."""
    from resources.spark import project_spark_session

    spark = project_spark_session()
    windows, units = training_windows(train_df)
    features = window_features(windows).assign(**{LABEL_COLUMN: train_df[LABEL_COLUMN].to_numpy()})
    return fit_spark_random_forest(spark.createDataFrame(features), labels, seed, input_units=units)


TRAINERS = {
    "spark_random_forest": train_spark_random_forest,
    "hist_gradient_boosting": train_hist_gradient_boosting,
}


def pip_requirements() -> list[str]:
    """Exact versions of what the pyfunc imports at load and predict time (no Spark: see the module)."""
    return [
        f"{name}=={version(name)}" for name in ("mlflow", "numpy", "pandas", "scikit-learn", "cloudpickle")
    ]
