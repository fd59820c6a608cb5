"""``<uc>_challenger``: every competing trainer fitted on the training set, the best on validation
refitted and registered as the ``challenger`` alias.

Each registered version keeps a record of the rows it trained on (``lifecycle/<uc>/trained_on/``)
before it is registered: a new holdout is drawn only from rows no registered version trained on.
"""

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import AssetExecutionContext, AssetIn, AssetsDefinition, Config, Failure, asset

from assets.lifecycle.shared import (
    HOLDOUT_VERSION_TAG,
    TRAINED_ON_TAG,
    TRAINING_SET_TAG,
    VALIDATION_OUTPUTS_TAG,
    _content_keys,
    _evaluate,
    _extra_figures,
    _lifecycle_dir,
    _md_table,
    _predict,
    _time_split,
)
from assets.lifecycle.spec import LabelledTable, LifecycleSpec
from resources.mlflow_registry import CHALLENGER, MlflowRegistry, MlflowResource

if TYPE_CHECKING:  # pandas, MLflow and scikit-learn (evaluation) are imported inside the step
    import pandas as pd

    from assets.lifecycle.evaluation import Evaluation


class ChallengerConfig(Config):
    trainers: list[str] = []  # empty: every competing trainer of the use case
    seed: int = 0
    refit_on_all: bool = True  # refit the winner on train+validation before registering it


def validation_split(
    frame: "pd.DataFrame", is_valid: "pd.Series", id_column: str, label_column: str | None, salt: str
) -> "pd.Series":
    """The multi-class validation mask, made usable when the hash draw is not (small data).

    Multi-label (``label_column`` None) and any draw whose both sides hold rows with validation holding
    two classes or more are returned as they are, so use cases that train today are unchanged.
    Otherwise each class with two rows or more lends its lowest-hashed row to validation
    (deterministic: a salted hash of the id, no RNG), keeping at least one row of every class for
    training. A split that still cannot be scored raises a :class:`Failure` naming the counts and what
    to do, instead of a scikit-learn ``Found empty input array`` deep in a trainer.
    """
    import hashlib

    mask = is_valid.astype(bool).copy()
    if label_column is None:
        return mask
    labels = frame[label_column].astype(str)

    def usable(m: "pd.Series") -> bool:
        return bool(m.any()) and not bool(m.all()) and labels[m].nunique() >= 2

    if usable(mask):
        return mask
    rank = frame[id_column].map(lambda i: hashlib.sha1(f"{salt}:fallback:{i}".encode()).hexdigest())
    for _label, rows in labels.groupby(labels):
        if len(rows) < 2:
            continue
        ordered = rank[rows.index].sort_values(kind="stable").index
        if not mask[ordered].any():
            mask[ordered[0]] = True
        if mask[ordered].all():  # keep one row of the class for training
            mask[ordered[-1]] = False
    if usable(mask):
        return mask
    raise Failure(
        f"cannot split {len(frame)} labelled rows into train and validation: the hash draw gave "
        f"{int(is_valid.sum())} validation and {int((~is_valid).sum())} training rows, rows per class "
        f"{labels.value_counts().to_dict()}. Validation needs two classes with at least two rows each: "
        "land more labelled rows of at least two classes."
    )


def _better(spec: LifecycleSpec, a: float, b: float) -> bool:
    return a > b if spec.higher_is_better else a < b


def _trainers_to_compete(spec: LifecycleSpec, config: ChallengerConfig) -> dict[str, Any]:
    """The trainers this run fits, by name: those the config names, or every competing one."""
    available = spec.available_trainers()
    names = config.trainers or list(spec.competing_trainers())
    unknown = [n for n in names if n not in available]
    if unknown:
        raise Failure(f"unknown trainer(s) {unknown}; available: {sorted(available)}")
    return {name: available[name] for name in names}


def _validation_mask(
    spec: LifecycleSpec, training_set: LabelledTable, frame: "pd.DataFrame", seed: int
) -> Any:
    """Which training rows validate: the temporal split, or a salted hash of the groups."""
    from assets.lifecycle.holdout import in_holdout

    is_valid = _time_split(spec, frame, spec.validation_fraction)
    if is_valid is None:
        salt = f"{spec.use_case}-val-{seed}"
        groups = spec.group_keys(frame, training_set.id_column)
        is_valid = in_holdout(groups, spec.validation_fraction, salt)
        is_valid = validation_split(frame, is_valid, training_set.id_column, training_set.label_column, salt)
    return is_valid


@dataclass
class _Winner:
    """The trainer that did best on validation, and how every trainer did."""

    name: str
    score: float
    model: Any
    evaluation: "Evaluation"
    predictions: "pd.DataFrame"
    comparison: "pd.DataFrame"


def _compete(
    context: AssetExecutionContext,
    spec: LifecycleSpec,
    trainers: dict[str, Any],
    training_set: LabelledTable,
    train: "pd.DataFrame",
    valid: "pd.DataFrame",
    seed: int,
) -> _Winner:
    """Fit each trainer on ``train`` and score it on ``valid``, one nested MLflow run each."""
    import mlflow
    import pandas as pd

    labels = list(training_set.labels)
    rows = []
    best_name, best_score, best_model = None, None, None
    for name, trainer in trainers.items():
        started = time.monotonic()
        model = trainer(train, labels, seed)
        fit_seconds = time.monotonic() - started
        predictions = _predict(spec, lambda records, m=model: m.predict(None, records), valid)
        result = _evaluate(spec, training_set, valid, predictions)
        score = result.metrics[spec.primary_metric]
        rows.append({"trainer": name, "fit_seconds": round(fit_seconds, 1), **result.metrics})
        with mlflow.start_run(run_name=name, nested=True):
            mlflow.log_param("trainer", name)
            mlflow.log_metrics({f"val_{k}": v for k, v in result.metrics.items()})
            mlflow.log_metric("fit_seconds", fit_seconds)
        if best_score is None or _better(spec, score, best_score):
            best_name, best_score, best_model, best_eval = name, score, model, result
            best_predictions = predictions
        context.log.info(f"{name}: validation {spec.primary_metric}={score:.4f} in {fit_seconds:.0f}s")
    assert best_name is not None and best_model is not None
    return _Winner(best_name, best_score, best_model, best_eval, best_predictions, pd.DataFrame(rows))


def _log_validation(
    spec: LifecycleSpec, training_set: LabelledTable, valid: "pd.DataFrame", winner: _Winner
) -> None:
    """The winner's validation metrics, the trainers' comparison and the curves, on the active run."""
    import mlflow

    from assets.lifecycle.evaluation import curve_figures

    mlflow.log_param("trainer", winner.name)
    mlflow.log_metrics({f"val_{k}": v for k, v in winner.evaluation.metrics.items()})
    with tempfile.TemporaryDirectory() as tmp:
        winner.comparison.to_csv(Path(tmp) / "trainer_comparison.csv", index=False)
        winner.evaluation.report.to_csv(Path(tmp) / "validation_report.csv", index=False)
        mlflow.log_artifacts(tmp, artifact_path="validation")
        curves = curve_figures(training_set, valid, winner.predictions, spec.task, Path(tmp) / "curves")
        curves += _extra_figures(spec, training_set, valid, winner.predictions, Path(tmp) / "curves")
        for figure in curves:
            mlflow.log_artifact(str(figure), artifact_path="validation")


def _record_trained_on(
    spec: LifecycleSpec, run_id: str, frame: "pd.DataFrame", training_set: LabelledTable
) -> str:
    """Keep what a version trained on (ids and content keys) before it is registered: a new holdout
    is drawn only from rows no registered version trained on. Returns the record's file name."""
    import pandas as pd

    trained_on = f"{run_id}.parquet"
    record = pd.DataFrame(
        {
            "id": frame[training_set.id_column].astype(str),
            "content_key": _content_keys(spec, frame, training_set.id_column),
        }
    )
    (_lifecycle_dir(spec) / "trained_on").mkdir(exist_ok=True)
    record.to_parquet(_lifecycle_dir(spec) / "trained_on" / trained_on, index=False)
    return trained_on


def _record_validation_outputs(
    spec: LifecycleSpec, run_id: str, predictions: "pd.DataFrame", labels: list[str]
) -> str:
    """Keep the version's answers on its validation rows (rows it did not train on): the reference
    the drift of its answers on the stream is measured against. Returns the file name."""
    folder = _lifecycle_dir(spec) / "validation_outputs"
    folder.mkdir(exist_ok=True)
    name = f"{run_id}.parquet"
    predictions[list(labels)].astype(float).to_parquet(folder / name, index=False)
    return name


def _register(
    spec: LifecycleSpec,
    registry: MlflowRegistry,
    run_id: str,
    model: Any,
    frame: "pd.DataFrame",
    training_set: LabelledTable,
    winner: _Winner,
) -> "tuple[Any, int | None]":
    """Log ``model`` on the active run, register it as a new version and alias it 'challenger'.
    Returns (the model version, the holdout version it was trained without)."""
    import mlflow

    info = mlflow.pyfunc.log_model(python_model=model, name="model", pip_requirements=spec.requirements())
    trained_on = _record_trained_on(spec, run_id, frame, training_set)
    holdout_version = getattr(training_set, "holdout_version", None)
    tags = {
        "trainer": winner.name,
        f"validation_{spec.primary_metric}": f"{winner.score:.6f}",
        "training_rows": str(len(frame)),
        "flywheel.primary_metric": spec.primary_metric,
        TRAINED_ON_TAG: trained_on,
        TRAINING_SET_TAG: training_set.path,
        VALIDATION_OUTPUTS_TAG: _record_validation_outputs(
            spec, run_id, winner.predictions, list(training_set.labels)
        ),
    }
    if holdout_version is not None:
        tags[HOLDOUT_VERSION_TAG] = str(holdout_version)
    version = registry.register_version(spec.use_case, info.model_uri, run_id=run_id, tags=tags)
    registry.set_alias(spec.use_case, CHALLENGER, version.version)
    return version, holdout_version


def _train_challenger(
    context: AssetExecutionContext,
    spec: LifecycleSpec,
    config: ChallengerConfig,
    mlflow_registry: MlflowResource,
    training_set: LabelledTable,
) -> dict[str, Any]:
    """The challenger step: compete, log, refit the winner on every row, register it."""
    import mlflow

    import assets.lifecycle.evaluation  # noqa: F401 - loaded (scikit-learn) before any trainer is timed

    registry = mlflow_registry.registry()
    trainers = _trainers_to_compete(spec, config)
    frame = training_set.read()
    is_valid = _validation_mask(spec, training_set, frame, config.seed)
    train, valid = frame[~is_valid], frame[is_valid]
    run_tags = {"flywheel.stage": "challenger"}
    with registry.start_run(spec.use_case, run_name="challenger", tags=run_tags) as run:
        mlflow.log_params({"training_rows": len(frame), "validation_rows": len(valid), "seed": config.seed})
        winner = _compete(context, spec, trainers, training_set, train, valid, config.seed)
        _log_validation(spec, training_set, valid, winner)
        model = winner.model
        if config.refit_on_all and len(valid):
            model = trainers[winner.name](frame, list(training_set.labels), config.seed)
        version, holdout_version = _register(
            spec, registry, run.info.run_id, model, frame, training_set, winner
        )
    context.add_output_metadata(
        {
            "version": int(version.version),
            "trainer": winner.name,
            f"validation_{spec.primary_metric}": float(winner.score),
            "trainer_comparison": _md_table(winner.comparison),
            "mlflow_run_id": run.info.run_id,
        }
    )
    return {
        "version": str(version.version),
        "run_id": run.info.run_id,
        "trainer": winner.name,
        "validation_metrics": winner.evaluation.metrics,
        "holdout_version": holdout_version,
    }


def _challenger_asset(spec: LifecycleSpec, training_set: AssetsDefinition) -> AssetsDefinition:
    @asset(
        name=f"{spec.use_case}_challenger",
        group_name=spec.use_case,
        ins={"training_set": AssetIn(training_set.key)},
        kinds={"mlflow", "scikitlearn"},
        description="Trains every trainer, keeps the best on validation, registers it as 'challenger'.",
    )
    def challenger(
        context: AssetExecutionContext, config: ChallengerConfig, mlflow_registry: MlflowResource,
        training_set: LabelledTable,
    ) -> dict[str, Any]:  # fmt: skip
        return _train_challenger(context, spec, config, mlflow_registry, training_set)

    return challenger
