"""What a use case tells the lifecycle factory: its data, its trainers, and how to judge a model."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from dagster import AssetCheckKey, AssetKey

from assets.lazy import resolve
from assets.lifecycle.confidence import ConfidenceRule

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class LabelledTable:
    """A labelled table on disk, as passed between assets (the IO manager pickles this, not the data).

    ``labels`` are the class names (multi-class: values of ``label_column``) or the label columns
    (multi-label), taken from the data itself.
    """

    path: str
    labels: tuple[str, ...]
    id_column: str = "id"
    label_column: str | None = None  # multi-class only

    def read(self) -> pd.DataFrame:
        import pandas as pd

        return pd.read_parquet(self.path)


@dataclass(frozen=True)
class HoldoutTable(LabelledTable):
    """The frozen holdout as passed between assets: which version, and whether it was drawn only
    from rows no registered model version had trained on (``fresh``)."""

    version: int | None = None
    fresh: bool = True

    def inputs(self) -> pd.DataFrame | None:
        """What the models are scored on, frozen with this version (None: the rows themselves, or a
        version frozen before inputs were kept)."""
        import pandas as pd

        from assets.lifecycle.holdout import inputs_path

        path = inputs_path(self.path)
        return pd.read_parquet(path) if path.exists() else None


@dataclass(frozen=True)
class TrainingSet(LabelledTable):
    """A training set, with the holdout version it excludes: a challenger trained on it may only be
    judged on that holdout (a newer one may hold rows it trained on)."""

    holdout_version: int | None = None


@dataclass(frozen=True)
class ContentKey:
    """What makes two records the same record, whatever their ids: the holdout is held out by
    content, so a copy of a holdout record under a new id (a duplicate in the source, a simulated
    record re-emitted from the clean table, an annotation) is never trained on.

    ``text`` columns compare casefolded with whitespace collapsed; ``numbers`` columns compare
    rounded to ``decimals`` places (a value that went through JSON and back is the same value).
    """

    text: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    decimals: int = 6

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.text, *self.numbers)


@dataclass(frozen=True)
class TemporalHoldout:
    """Hold out the end of time instead of a hash of ids: the last ``fraction`` of each group's time
    span (``series_column``; every row when None) is the holdout, and the validation set of the
    challengers is the last part of what remains. For time-ordered use cases, where a random draw
    would put a reading's neighbours (and its future) into training."""

    time_column: str
    series_column: str | None = None


#: A trainer: (training frame, labels, seed) -> an MLflow PythonModel honouring the model contract.
Trainer = Callable[["pd.DataFrame", list[str], int], Any]
#: Trainers by name, or a lazy reference to such a mapping (``"assets.disaster.model:TRAINERS"``):
#: the mapping's module imports scikit-learn, MLflow or PySpark, which definitions must not.
Trainers = Mapping[str, Trainer] | str


@dataclass(frozen=True)
class LifecycleSpec:
    """One use case's lifecycle.

    ``thresholds`` are absolute floors on holdout metrics; ``tolerance`` is how far the primary
    metric may fall below the champion's before the gate refuses the challenger. Trainers and
    ``pip_requirements`` may be lazy references (``"module:attribute"``, see ``assets.lazy``).
    """

    use_case: str
    source: AssetKey
    record_columns: tuple[str, ...]
    trainers: Trainers
    primary_metric: str
    thresholds: Mapping[str, float]
    tolerance: float = 0.0
    task: Literal["multilabel", "multiclass"] = "multilabel"
    holdout_fraction: float = 0.2
    validation_fraction: float = 0.2
    #: Trainers that never compete by default but can be chosen by run config (baselines, tests).
    extra_trainers: Trainers = field(default_factory=dict)
    #: Data checks that must have passed (latest evaluation) for a promotion.
    data_checks: Sequence[AssetCheckKey] = ()
    pip_requirements: Callable[[], list[str]] | str = list
    higher_is_better: bool = True
    #: Append ``<uc>_annotations`` (labels from the annotation page) to the training set.
    annotations: bool = False
    #: Rows that may be drawn into the holdout (default: all). Weakly labelled use cases keep the
    #: holdout to hand labels, so that held-out metrics are measured against people, not rules.
    holdout_eligible: Callable[[pd.DataFrame], pd.Series] | None = None
    #: How records are compared with the holdout besides their id (None: by id only).
    content_key: ContentKey | None = None
    #: Turns rows of the source table back into records as they arrive on the topic, before the
    #: ``record_columns`` are taken (default: the rows as they are). Activity converts signals back
    #: into the units the watches send, which the clean table no longer holds. May be lazy.
    to_records: Callable[[pd.DataFrame], pd.DataFrame] | str | None = None
    #: Rows that belong together (e.g. one user's rows at several cutoffs): the holdout and the
    #: validation split hash this column instead of the id, so a group is all in or all out, and the
    #: training set leaves out every row of a held-out group. None: each row is its own group.
    group_column: str | None = None
    #: Scores labelled rows through the model when a row is not one record (Sparkify: a row is a user
    #: at a cutoff, the model takes that user's events). ``(predict, frame) -> predictions`` with one
    #: row per frame row (a column per label + ``prediction``), where ``predict(records)`` calls the
    #: model. None: each row's record is predicted as it is. May be lazy.
    score_rows: Callable[[Callable[..., pd.DataFrame], pd.DataFrame], pd.DataFrame] | str | None = None
    #: Extra metrics ``(frame, predictions, labels) -> {name: value}`` merged into every evaluation
    #: (e.g. PR AUC of one class), so that one may be the primary metric. May be lazy.
    extra_metrics: Callable[[pd.DataFrame, pd.DataFrame, list[str]], dict[str, float]] | str | None = None
    #: Extra figures ``(frame, predictions, labels, folder) -> [paths]`` logged beside the PR/ROC
    #: curves (e.g. a reliability plot). May be lazy.
    extra_figures: Callable[..., list] | str | None = None

    #: Holdout and validation by time (see :class:`TemporalHoldout`); None: by a hash of the id.
    temporal_holdout: TemporalHoldout | None = None
    #: How sure the holdout must let the gate be (bootstrap over groups, a floor on positives), see
    #: :mod:`assets.lifecycle.confidence`. None: thresholds on the point estimate (today every use case;
    #: switching it on waits for demo samples and test data with 30 positives in the holdout).
    confidence: ConfidenceRule | None = None
    #: What a model is scored on for holdout rows, frozen with each holdout version so that an
    #: evaluation never reads live data ``(rows) -> inputs``: the rows with their record inlined
    #: (same order; gravityspy: the views' bytes), or the history ``score_rows`` scores the rows on
    #: (sparkify: the held-out users' events). None: the rows hold their records. May be lazy.
    holdout_inputs: Callable[[pd.DataFrame], pd.DataFrame] | str | None = None
    #: Metrics of a model on data outside the use case's tables, ``(predict) -> {name: value}``
    #: (flow: NAB's score on series no model trains on), added to the evaluation of the challenger
    #: and of the champion, so the gate can judge transfer as well as the holdout. May be lazy.
    transfer_metrics: Callable[[Callable[[pd.DataFrame], pd.DataFrame]], dict[str, float]] | str | None = None
    #: Metrics besides the primary one that must not regress against the champion, each with its
    #: tolerance (flow: the transfer score).
    guarded_metrics: Mapping[str, float] = field(default_factory=dict)

    def group_keys(self, frame: pd.DataFrame, id_column: str) -> pd.Series:
        """What the holdout and validation hashes are drawn on: the group column, else the id."""
        return frame[self.group_column if self.group_column else id_column]

    def key(self, suffix: str) -> AssetKey:
        return AssetKey(f"{self.use_case}_{suffix}")

    def competing_trainers(self) -> dict[str, Trainer]:
        """The trainers that compete by default (imports their module now)."""
        return dict(resolve(self.trainers))

    def available_trainers(self) -> dict[str, Trainer]:
        """Competing trainers plus the ones only run config picks (baselines, tests)."""
        return {**self.competing_trainers(), **dict(resolve(self.extra_trainers))}

    def requirements(self) -> list[str]:
        """``pip_requirements`` of the registered model."""
        return list(resolve(self.pip_requirements)())
