"""Dagster wiring of the model lifecycle: one call per use case makes its holdout, training set,
challenger, evaluation, promotion gate and champion.

The rules live in plain modules (``holdout``, ``content``, ``gate``, ``promotion``, ``evaluation``,
``metrics``); this module only connects them to MLflow and Dagster. Three guards keep a worse model
out:
- within a run, ``<uc>_promotion_gate`` is a *blocking* check on ``<uc>_evaluation``, so the
  champion step is skipped when it fails;
- across runs, ``<uc>_champion`` carries ``all_deps_blocking_checks_passed`` in its automation
  condition, and the asset itself re-applies the same gate rule before it moves the alias, so a
  hand-launched materialization cannot promote a challenger the gate refused;
- promotion is compare-and-set: under the registry's lock, the champion step promotes only if the
  challenger alias, the champion alias and the holdout are still what the evaluation saw, and never a
  version a rollback took off the alias.

Nothing two runs share is written in place: a run's training set and figures live under
``lifecycle/<uc>/runs/<run_id>/``, evaluations under ``lifecycle/<uc>/evaluations/v<version>.json``,
the records each registered version trained on under ``lifecycle/<uc>/trained_on/``, and shared
files (``labels.json``, the holdout manifest) are replaced atomically.
"""

import base64
import json
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    AutomationCondition,
    Config,
    DagsterInstance,
    Failure,
    MetadataValue,
    asset,
    asset_check,
)

from assets.lazy import resolve
from assets.lifecycle.gate import GateDecision, decide
from assets.lifecycle.promotion import champion_comparable, promotion_conflicts
from assets.lifecycle.spec import HoldoutTable, LabelledTable, LifecycleSpec, TrainingSet
from orchestration.files import atomic_write_text, prune_run_dirs
from orchestration.settings import get_settings
from resources.mlflow_registry import CHALLENGER, CHAMPION, MlflowRegistry, MlflowResource

if TYPE_CHECKING:  # pandas, MLflow and scikit-learn (evaluation) are imported inside the steps
    import pandas as pd

    from assets.lifecycle.evaluation import Evaluation

TRAINED_ON_TAG = "flywheel.trained_on"
HOLDOUT_VERSION_TAG = "flywheel.holdout_version"


class HoldoutConfig(Config):
    """Replacing the frozen holdout is an explicit act and needs a reason (it is logged)."""

    replace: bool = False
    reason: str = ""


class ChallengerConfig(Config):
    trainers: list[str] = []  # empty: every competing trainer of the use case
    seed: int = 0
    refit_on_all: bool = True  # refit the winner on train+validation before registering it


class ChampionConfig(Config):
    """Which evaluation to promote: by default the one this run made (or the latest); a version
    number promotes that version's evaluation (``lifecycle/<uc>/evaluations/v<N>.json``), for
    re-running a promotion by hand. The same compare-and-set and gate apply either way."""

    challenger_version: str = ""


@dataclass
class LifecycleDefinitions:
    assets: list[AssetsDefinition]
    checks: list[Any]


def _lifecycle_dir(spec: LifecycleSpec) -> Path:
    return get_settings().data_dir("lifecycle", spec.use_case)


def _run_dir(spec: LifecycleSpec, run_id: str) -> Path:
    """This run's own folder (old runs' folders are pruned, never the newest ones)."""
    root = _lifecycle_dir(spec) / "runs"
    prune_run_dirs(root, spare=run_id)
    path = root / run_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def evaluation_path(use_case: str, version: str | int) -> Path:
    """Where the evaluation of a challenger version is kept (what ``ChampionConfig`` promotes)."""
    return get_settings().data_dir("lifecycle", use_case, "evaluations") / f"v{version}.json"


def materialized_path(instance: DagsterInstance, key: AssetKey, name: str) -> Path | None:
    """A path recorded in the metadata of ``key``'s latest materialization (e.g. ``training_set_path``),
    for code outside the graph: per-run files have no fixed location."""
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return None
    value = event.asset_materialization.metadata.get(name)
    return Path(value.value) if value is not None else None


def latest_evaluation(instance: DagsterInstance, use_case: str) -> dict[str, Any]:
    """The result of the use case's latest evaluation (challenger and champion metrics, versions)."""
    path = materialized_path(instance, AssetKey(f"{use_case}_evaluation"), "evaluation_path")
    if path is None:
        raise FileNotFoundError(f"{use_case}_evaluation was never materialized")
    return json.loads(path.read_text())


def _holdout_version(holdout: LabelledTable) -> int | None:
    """The holdout's version (from the table, or the file name for tables pickled before it)."""
    version = getattr(holdout, "version", None)
    if version is None:
        found = re.search(r"holdout-v(\d+)\.parquet$", holdout.path)
        version = int(found.group(1)) if found else None
    return version


def _content_keys(spec: LifecycleSpec, frame: "pd.DataFrame", id_column: str) -> "pd.Series":
    from assets.lifecycle.content import content_keys
    from assets.lifecycle.spec import ContentKey

    return content_keys(frame, spec.content_key or ContentKey(), id_column)


def _trained_on(registry: MlflowRegistry, spec: LifecycleSpec) -> "tuple[set[str], set[str], list[str]]":
    """(ids, content keys, versions without a record): what registered versions trained on."""
    import pandas as pd

    ids: set[str] = set()
    keys: set[str] = set()
    unknown: list[str] = []
    folder = _lifecycle_dir(spec) / "trained_on"
    for version in registry.versions(spec.use_case):
        name = (version.tags or {}).get(TRAINED_ON_TAG)
        if not name or not (folder / name).exists():
            unknown.append(str(version.version))
            continue
        record = pd.read_parquet(folder / name)
        ids.update(record["id"].astype(str))
        keys.update(record["content_key"].astype(str))
    return ids, keys, unknown


def _records(spec: LifecycleSpec, frame: "pd.DataFrame") -> "pd.DataFrame":
    """Only what arrives on the topic, as it arrives: models must never see labels or cleaning
    artefacts, and are scored on what they will be served."""
    if spec.to_records is not None:
        frame = resolve(spec.to_records)(frame)
    return frame[[c for c in spec.record_columns if c in frame.columns]]


def _predict(
    spec: LifecycleSpec, predict: Any, frame: "pd.DataFrame", inputs: "pd.DataFrame | None" = None
) -> "pd.DataFrame":
    """Predictions for labelled rows: each row's record through ``predict``, or the use case's own
    way of turning rows into model input (``LifecycleSpec.score_rows``); from the holdout's frozen
    ``inputs`` when it has them (the records inlined, or the history rows are scored on)."""
    if spec.score_rows is not None:
        if inputs is not None:
            return resolve(spec.score_rows)(predict, frame, inputs)
        return resolve(spec.score_rows)(predict, frame)
    if inputs is not None:
        if len(inputs) != len(frame):
            raise Failure(f"{spec.use_case}: frozen inputs hold {len(inputs)} rows, the holdout {len(frame)}")
        return predict(_records(spec, inputs))
    return predict(_records(spec, frame))


def _evaluate(
    spec: LifecycleSpec, table: LabelledTable, frame: "pd.DataFrame", predictions: "pd.DataFrame"
) -> Any:
    """The shared evaluation plus the use case's ``extra_metrics``."""
    from assets.lifecycle.evaluation import evaluate

    result = evaluate(table, frame, predictions, spec.task)
    if spec.extra_metrics is not None:
        extra = resolve(spec.extra_metrics)(frame, predictions, list(table.labels))
        result.metrics.update({k: float(v) for k, v in extra.items()})
    return result


def _extra_figures(
    spec: LifecycleSpec,
    table: LabelledTable,
    frame: "pd.DataFrame",
    predictions: "pd.DataFrame",
    folder: Path,
) -> list[Path]:
    if spec.extra_figures is None:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(p) for p in resolve(spec.extra_figures)(frame, predictions, list(table.labels), folder)]


def _md_table(df: "pd.DataFrame", floatfmt: str = ".4f") -> MetadataValue:
    return MetadataValue.md(df.to_markdown(index=False, floatfmt=floatfmt))


def _png_markdown(path: Path) -> str:
    """A PNG inlined in markdown, so the plot shows in the Dagster UI's metadata panel."""
    encoded = base64.b64encode(path.read_bytes()).decode()
    return f"![{path.stem}](data:image/png;base64,{encoded})"


def failed_data_checks(instance: DagsterInstance, spec: LifecycleSpec) -> list[str]:
    """Upstream data checks whose latest evaluation did not pass (or that never ran)."""
    failed = []
    for key in spec.data_checks:
        record = instance.get_latest_asset_check_evaluation_record(key)
        evaluation = record.evaluation if record is not None else None
        if evaluation is None or not evaluation.passed:
            failed.append(key.name)
    return failed


def gate_decision(instance: DagsterInstance, spec: LifecycleSpec, result: dict[str, Any]) -> GateDecision:
    """The gate on an evaluation result; a champion that cannot be compared fairly (it may have
    trained on part of the holdout) leaves the thresholds alone to decide, and the decision says so."""
    comparable = result.get("champion_comparable", True)
    return decide(
        challenger=result["challenger_metrics"],
        champion=result.get("champion_metrics") if comparable else None,
        champion_note=None if comparable else result.get("comparison_note"),
        primary_metric=spec.primary_metric,
        thresholds=spec.thresholds,
        tolerance=spec.tolerance,
        failed_data_checks=failed_data_checks(instance, spec),
        higher_is_better=spec.higher_is_better,
        intervals=result.get("challenger_intervals") if spec.confidence else None,
        positives=result.get("holdout_positives") if spec.confidence else None,
        min_positives=spec.confidence.min_positives if spec.confidence else 0,
        level=spec.confidence.level if spec.confidence else 0.90,
        guarded=spec.guarded_metrics,
    )


def holdout_intervals(
    spec: LifecycleSpec, holdout: LabelledTable, frame: "pd.DataFrame", predictions: "pd.DataFrame"
) -> "tuple[int, dict[str, tuple[float, float]]]":
    """(positives in the holdout, bootstrap intervals of the thresholded metrics over its groups).
    No resampling when there are too few positives: the gate will not judge them anyway."""
    from assets.lifecycle.confidence import count_positives, group_bootstrap

    positives = count_positives(frame, holdout.labels, spec.task, holdout.label_column)
    if spec.confidence is None or positives < spec.confidence.min_positives or not spec.thresholds:
        return positives, {}
    rows = frame.reset_index(drop=True)
    scored = predictions.reset_index(drop=True)

    def metrics_of(positions: Any) -> dict[str, float]:
        sample = rows.iloc[positions].reset_index(drop=True)
        return _evaluate(spec, holdout, sample, scored.iloc[positions].reset_index(drop=True)).metrics

    groups = spec.group_keys(rows, holdout.id_column)
    return positives, group_bootstrap(groups, metrics_of, list(spec.thresholds), spec.confidence)


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


def _with_annotations(
    train: "pd.DataFrame", annotations: LabelledTable, held_ids: set[str]
) -> "tuple[pd.DataFrame, set[str], int]":
    """``train`` plus annotated rows: an annotation replaces a row with the same id, and a record that
    is in the frozen holdout is never trained on, whatever label it was given. Returns the merged
    frame, the ids of the annotated rows it took, and how many annotations had a holdout id."""
    import pandas as pd

    extra = annotations.read()
    if extra.empty:
        return train, set(), 0
    id_column = annotations.id_column
    extra = extra.assign(**{id_column: extra[id_column].astype(str)})
    in_holdout_ = extra[id_column].isin(held_ids)
    extra = extra[~in_holdout_]
    extra = extra[[c for c in train.columns if c in extra.columns]]
    for column in extra.columns:  # records arrive as JSON: give them the table's types back
        if column == id_column:
            continue
        if pd.api.types.is_datetime64_any_dtype(train[column]):
            extra[column] = pd.to_datetime(extra[column])
        elif pd.api.types.is_numeric_dtype(train[column]):
            extra[column] = pd.to_numeric(extra[column], errors="coerce")
        elif isinstance(train[column].dropna().iloc[0] if train[column].notna().any() else None, str):
            extra[column] = extra[column].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    base = train.assign(**{id_column: train[id_column].astype(str)})
    base = base[~base[id_column].isin(set(extra[id_column]))]
    merged = pd.concat([base, extra], ignore_index=True)
    return merged, set(extra[id_column]), int(in_holdout_.sum())


def _before_holdout_start(
    spec: LifecycleSpec, train: "pd.DataFrame", held: "pd.DataFrame"
) -> "tuple[pd.DataFrame, int]":
    """Training rows from before each series' holdout start only (a temporal holdout is frozen once;
    readings that land later than its window would otherwise be trained on, and the model would learn
    the holdout's future). Series without held-out rows keep every row. Returns (rows, dropped)."""
    import pandas as pd

    th = spec.temporal_holdout
    assert th is not None
    if not len(held) or th.time_column not in train.columns:
        return train, 0
    times = pd.to_datetime(train[th.time_column], utc=True, errors="coerce")
    held_times = pd.to_datetime(held[th.time_column], utc=True, errors="coerce")
    if th.series_column:
        starts = held_times.groupby(held[th.series_column].astype(str)).min()
        start = train[th.series_column].astype(str).map(starts)
        late = (start.notna() & (times >= start)).to_numpy(dtype=bool)
    else:
        late = (times >= held_times.min()).to_numpy(dtype=bool)
    return train[~late].reset_index(drop=True), int(late.sum())


def _time_split(spec: LifecycleSpec, frame: "pd.DataFrame", fraction: float) -> Any:
    """The temporal holdout/validation mask (numpy) of ``frame``, or None for the hash split."""
    if spec.temporal_holdout is None:
        return None
    from assets.lifecycle.holdout import in_time_holdout

    th = spec.temporal_holdout
    groups = frame[th.series_column] if th.series_column else None
    return in_time_holdout(frame[th.time_column], groups, fraction).to_numpy(dtype=bool)


def build_lifecycle(spec: LifecycleSpec) -> LifecycleDefinitions:  # noqa: C901 - one closure per asset
    uc = spec.use_case
    group = uc

    def draw(
        frame: "pd.DataFrame",
        id_column: str,
        store: Any,
        registry: MlflowRegistry,
        eligible: Any,
        reason: str,
    ) -> "tuple[Any, dict[str, Any]]":
        """Freeze the next holdout version, from rows no registered version trained on if any."""
        from assets.lifecycle.holdout import draw_holdout

        current = store.current()
        version = 1 if current is None else current.version + 1
        trained_ids, trained_keys, unknown = _trained_on(registry, spec)
        ids = frame[id_column]
        keys = _content_keys(spec, frame, id_column)
        untrained = ~(ids.astype(str).isin(trained_ids) | keys.isin(trained_keys)).to_numpy(dtype=bool)
        if unknown:  # a version without a record may have trained on any row
            untrained[:] = False
        mask, fresh = draw_holdout(
            spec.group_keys(frame, id_column),
            spec.holdout_fraction,
            f"{uc}-holdout-v{version}",
            eligible,
            untrained,
            chosen=_time_split(spec, frame, spec.holdout_fraction),
        )
        reason = reason or "first holdout"
        if not fresh:
            why = (
                f"v{', v'.join(unknown)} kept no record of what they trained on"
                if unknown
                else "registered versions trained on every eligible row"
            )
            reason += f" (not fresh: {why}; the next gate judges on thresholds alone)"
        rows = frame[mask].reset_index(drop=True)
        inputs = resolve(spec.holdout_inputs)(rows) if spec.holdout_inputs is not None else None
        frozen = store.freeze(rows, reason=reason, fresh=fresh, inputs=inputs)
        return frozen, {
            "untrained_eligible_rows": int((untrained & eligible).sum()),
            "versions_without_training_record": ", ".join(unknown) or "none",
        }

    @asset(
        name=f"{uc}_holdout",
        group_name=group,
        ins={"source": AssetIn(spec.source)},
        kinds={"pandas", "parquet"},
        description="Frozen holdout: drawn once by id hash (a new one only from rows no version trained "
        "on), versioned, never trained on, by id or by content.",
    )
    def holdout(
        context: AssetExecutionContext, config: HoldoutConfig, mlflow_registry: MlflowResource,
        source: LabelledTable,
    ) -> HoldoutTable:  # fmt: skip
        import numpy as np

        from assets.lifecycle.holdout import HoldoutStore

        store = HoldoutStore(_lifecycle_dir(spec) / "holdout")
        current = store.current()
        replaced = False
        drawn: dict[str, Any] = {}
        if current is None or config.replace:
            if config.replace and not config.reason.strip():
                raise Failure("replacing the frozen holdout needs a reason (config: reason)")
            registry = mlflow_registry.registry()
            frame = source.read()
            eligible = (
                spec.holdout_eligible(frame).to_numpy(dtype=bool)
                if spec.holdout_eligible is not None
                else np.ones(len(frame), dtype=bool)
            )
            # Under the promotion lock: a champion step compares the holdout version it was scored on.
            with registry.locked(uc):
                current = store.current()
                if current is None or config.replace:  # (another run may have drawn the first one)
                    current, drawn = draw(
                        frame, source.id_column, store, registry, eligible, config.reason.strip()
                    )
                    replaced = current.version > 1
            if drawn:
                context.log.warning(
                    f"{uc} holdout v{current.version} frozen ({current.rows} rows): {current.reason}"
                )
        context.add_output_metadata(
            {
                "holdout_version": current.version,
                "rows": current.rows,
                "created_at": current.created_at,
                "reason": current.reason,
                "fresh": current.fresh,
                "replaced_now": replaced,
                **drawn,
                "history": MetadataValue.json(store.history()),
            }
        )
        return HoldoutTable(
            str(current.path), source.labels, source.id_column, source.label_column,
            version=current.version, fresh=current.fresh,
        )  # fmt: skip

    def build_training_set(
        context: AssetExecutionContext,
        source: LabelledTable,
        holdout: LabelledTable,
        annotations: LabelledTable | None = None,
    ) -> TrainingSet:
        frame = source.read()
        held = holdout.read()
        id_column = source.id_column
        held_ids = set(held[holdout.id_column].astype(str))
        keep = ~frame[id_column].astype(str).isin(held_ids)
        if spec.group_column:  # a held-out group's newer rows (e.g. a later cutoff) stay out too
            held_groups = set(held[spec.group_column].astype(str))
            keep &= ~frame[spec.group_column].astype(str).isin(held_groups)
        train = frame[keep].reset_index(drop=True)
        meta: dict[str, Any] = {"held_out_rows_excluded": int((~keep).sum())}
        annotated: set[str] = set()
        if annotations is not None:
            train, annotated, meta["annotated_rows_in_holdout"] = _with_annotations(
                train, annotations, held_ids
            )
        if spec.temporal_holdout is not None:
            train, meta["rows_after_holdout_start_excluded"] = _before_holdout_start(spec, train, held)
        if spec.content_key is not None:
            # Same content as a holdout record under another id: a duplicate, a re-emitted record, an
            # annotation of a copy. Trained on, it would be judged on what it learnt by heart.
            held_keys = set(_content_keys(spec, held, holdout.id_column))
            same = _content_keys(spec, train, id_column).isin(held_keys).to_numpy(dtype=bool)
            from_annotations = train[id_column].astype(str).isin(annotated).to_numpy(dtype=bool) & same
            meta["holdout_content_rows_excluded"] = int(same.sum())
            meta["annotated_rows_holdout_content"] = int(from_annotations.sum())
            annotated -= set(train.loc[from_annotations, id_column].astype(str))
            train = train[~same].reset_index(drop=True)
        if annotations is not None:
            meta["annotated_rows"] = len(annotated)
        path = _run_dir(spec, context.run_id) / "training_set.parquet"
        train.to_parquet(path, index=False)
        # What the models will predict, for tools outside the graph (the annotation page).
        atomic_write_text(
            _lifecycle_dir(spec) / "labels.json",
            json.dumps({"labels": list(source.labels), "task": spec.task}),
        )
        holdout_version = _holdout_version(holdout)
        meta.update(
            rows=len(train), training_set_path=MetadataValue.path(str(path)), holdout_version=holdout_version
        )
        if spec.task == "multilabel":
            prevalence = train[list(source.labels)].mean().rename_axis("label").reset_index(name="prevalence")
            meta["label_prevalence"] = _md_table(prevalence)
        else:
            counts = train[source.label_column].value_counts().rename_axis("class").reset_index(name="rows")
            meta["class_counts"] = _md_table(counts)
        context.add_output_metadata(meta)
        return TrainingSet(
            str(path), source.labels, id_column, source.label_column, holdout_version=holdout_version
        )

    training_ins = {"source": AssetIn(spec.source), "holdout": AssetIn(holdout.key)}
    training_kwargs: dict[str, Any] = {
        "name": f"{uc}_training_set",
        "group_name": group,
        "kinds": {"pandas", "parquet"},
        "description": "Everything labelled except the frozen holdout (by id and by content)"
        + (", plus the annotators' labels." if spec.annotations else "."),
    }
    if spec.annotations:

        @asset(ins={**training_ins, "annotations": AssetIn(spec.key("annotations"))}, **training_kwargs)
        def training_set(
            context: AssetExecutionContext,
            source: LabelledTable,
            holdout: LabelledTable,
            annotations: LabelledTable,
        ) -> TrainingSet:
            return build_training_set(context, source, holdout, annotations)

    else:

        @asset(ins=training_ins, **training_kwargs)
        def training_set(
            context: AssetExecutionContext, source: LabelledTable, holdout: LabelledTable
        ) -> TrainingSet:
            return build_training_set(context, source, holdout)

    @asset(
        name=f"{uc}_challenger",
        group_name=group,
        ins={"training_set": AssetIn(training_set.key)},
        kinds={"mlflow", "scikitlearn"},
        description="Trains every trainer, keeps the best on validation, registers it as 'challenger'.",
    )
    def challenger(
        context: AssetExecutionContext, config: ChallengerConfig, mlflow_registry: MlflowResource,
        training_set: LabelledTable,
    ) -> dict[str, Any]:  # fmt: skip
        import mlflow
        import pandas as pd

        from assets.lifecycle.evaluation import curve_figures
        from assets.lifecycle.holdout import in_holdout

        registry = mlflow_registry.registry()
        available = spec.available_trainers()
        names = config.trainers or list(spec.competing_trainers())
        unknown = [n for n in names if n not in available]
        if unknown:
            raise Failure(f"unknown trainer(s) {unknown}; available: {sorted(available)}")
        frame = training_set.read()
        labels = list(training_set.labels)
        is_valid = _time_split(spec, frame, spec.validation_fraction)
        if is_valid is None:
            salt = f"{uc}-val-{config.seed}"
            groups = spec.group_keys(frame, training_set.id_column)
            is_valid = in_holdout(groups, spec.validation_fraction, salt)
            is_valid = validation_split(
                frame, is_valid, training_set.id_column, training_set.label_column, salt
            )
        train, valid = frame[~is_valid], frame[is_valid]
        rows = []
        best_name, best_score, best_model = None, None, None
        with registry.start_run(uc, run_name="challenger", tags={"flywheel.stage": "challenger"}) as run:
            mlflow.log_params(
                {"training_rows": len(frame), "validation_rows": len(valid), "seed": config.seed}
            )
            for name in names:
                started = time.monotonic()
                model = available[name](train, labels, config.seed)
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
                context.log.info(
                    f"{name}: validation {spec.primary_metric}={score:.4f} in {fit_seconds:.0f}s"
                )
            assert best_name is not None and best_model is not None
            comparison = pd.DataFrame(rows)
            mlflow.log_param("trainer", best_name)
            mlflow.log_metrics({f"val_{k}": v for k, v in best_eval.metrics.items()})
            with tempfile.TemporaryDirectory() as tmp:
                comparison.to_csv(Path(tmp) / "trainer_comparison.csv", index=False)
                best_eval.report.to_csv(Path(tmp) / "validation_report.csv", index=False)
                mlflow.log_artifacts(tmp, artifact_path="validation")
                curves = curve_figures(training_set, valid, best_predictions, spec.task, Path(tmp) / "curves")
                curves += _extra_figures(spec, training_set, valid, best_predictions, Path(tmp) / "curves")
                for figure in curves:
                    mlflow.log_artifact(str(figure), artifact_path="validation")
            if config.refit_on_all and len(valid):
                best_model = available[best_name](frame, labels, config.seed)
            info = mlflow.pyfunc.log_model(
                python_model=best_model, name="model", pip_requirements=spec.requirements()
            )
            # What this version trained on, kept before it is registered: a new holdout is drawn only
            # from rows no registered version trained on.
            trained_on = f"{run.info.run_id}.parquet"
            record = pd.DataFrame(
                {
                    "id": frame[training_set.id_column].astype(str),
                    "content_key": _content_keys(spec, frame, training_set.id_column),
                }
            )
            (_lifecycle_dir(spec) / "trained_on").mkdir(exist_ok=True)
            record.to_parquet(_lifecycle_dir(spec) / "trained_on" / trained_on, index=False)
            holdout_version = getattr(training_set, "holdout_version", None)
            tags = {
                "trainer": best_name,
                f"validation_{spec.primary_metric}": f"{best_score:.6f}",
                "training_rows": str(len(frame)),
                "flywheel.primary_metric": spec.primary_metric,
                TRAINED_ON_TAG: trained_on,
            }
            if holdout_version is not None:
                tags[HOLDOUT_VERSION_TAG] = str(holdout_version)
            version = registry.register_version(uc, info.model_uri, run_id=run.info.run_id, tags=tags)
            registry.set_alias(uc, CHALLENGER, version.version)
        context.add_output_metadata(
            {
                "version": int(version.version),
                "trainer": best_name,
                f"validation_{spec.primary_metric}": float(best_score),
                "trainer_comparison": _md_table(comparison),
                "mlflow_run_id": run.info.run_id,
            }
        )
        return {
            "version": str(version.version),
            "run_id": run.info.run_id,
            "trainer": best_name,
            "validation_metrics": best_eval.metrics,
            "holdout_version": holdout_version,
        }

    @asset(
        name=f"{uc}_evaluation",
        group_name=group,
        ins={"challenger": AssetIn(challenger.key), "holdout": AssetIn(holdout.key)},
        kinds={"mlflow"},
        description="Challenger and current champion scored on the same frozen holdout, side by side.",
    )
    def evaluation(
        context: AssetExecutionContext, mlflow_registry: MlflowResource, challenger: dict[str, Any],
        holdout: LabelledTable,
    ) -> dict[str, Any]:  # fmt: skip
        import mlflow
        import pandas as pd

        from assets.lifecycle.evaluation import comparison_png, curve_figures

        registry = mlflow_registry.registry()
        ch_version = challenger["version"]
        holdout_version = _holdout_version(holdout)
        trained_against = challenger.get("holdout_version")
        if trained_against is not None and holdout_version is not None and trained_against != holdout_version:
            raise Failure(
                f"{uc} v{ch_version} was trained without holdout v{trained_against}, but the holdout is now "
                f"v{holdout_version}, whose rows it may have trained on: retrain it"
            )
        frame = holdout.read()
        frozen_inputs = holdout.inputs() if isinstance(holdout, HoldoutTable) else None
        mlflow.set_tracking_uri(registry.tracking_uri)

        def score(version: str) -> "tuple[Evaluation, pd.DataFrame]":
            model = mlflow.pyfunc.load_model(f"models:/{uc}/{version}")
            predictions = _predict(spec, model.predict, frame, frozen_inputs)
            result = _evaluate(spec, holdout, frame, predictions)
            if spec.transfer_metrics is not None:
                transfer = resolve(spec.transfer_metrics)(model.predict)
                result.metrics.update({k: float(v) for k, v in transfer.items()})
            return result, predictions

        ch_eval, ch_pred = score(ch_version)
        positives, intervals = holdout_intervals(spec, holdout, frame, ch_pred)
        current = registry.get_alias(uc, CHAMPION)
        champ_version = str(current.version) if current is not None else None
        champ_eval = None
        note = None
        if champ_version is not None:
            champ_eval = ch_eval if champ_version == ch_version else score(champ_version)[0]
            if holdout_version is not None:
                excluded = (current.tags or {}).get(HOLDOUT_VERSION_TAG)
                note = champion_comparable(
                    holdout_version, getattr(holdout, "fresh", True), int(excluded) if excluded else None
                )
        side_by_side = pd.DataFrame(
            {
                "metric": list(ch_eval.metrics),
                f"challenger v{ch_version}": list(ch_eval.metrics.values()),
                f"champion v{champ_version}" if champ_version else "champion (none)": [
                    champ_eval.metrics.get(m) if champ_eval else None for m in ch_eval.metrics
                ],
            }
        )
        figures_dir = _run_dir(spec, context.run_id) / "evaluation"
        figures_dir.mkdir(exist_ok=True)
        with registry.start_run(
            uc, run_name=f"evaluation v{ch_version}", tags={"flywheel.stage": "evaluation"}
        ):
            mlflow.log_params({"challenger_version": ch_version, "champion_version": champ_version or "none"})
            mlflow.log_metrics({f"challenger_{k}": v for k, v in ch_eval.metrics.items()})
            mlflow.log_metric("holdout_positives", positives)
            for k, (low, high) in intervals.items():
                mlflow.log_metrics({f"challenger_{k}_low": low, f"challenger_{k}_high": high})
            if champ_eval:
                mlflow.log_metrics({f"champion_{k}": v for k, v in champ_eval.metrics.items()})
            figures = curve_figures(holdout, frame, ch_pred, spec.task, figures_dir)
            _extra_figures(spec, holdout, frame, ch_pred, figures_dir)
            compared = comparison_png(
                {
                    f"challenger v{ch_version}": ch_eval.metrics,
                    f"champion v{champ_version}": champ_eval.metrics if champ_eval else None,
                },
                figures_dir / "side_by_side.png",
            )
            ch_eval.report.to_csv(figures_dir / "holdout_report.csv", index=False)
            side_by_side.to_csv(figures_dir / "side_by_side.csv", index=False)
            mlflow.log_artifacts(str(figures_dir), artifact_path="holdout")
        client = registry.client
        for k, v in ch_eval.metrics.items():
            client.set_model_version_tag(uc, ch_version, f"holdout_{k}", f"{v:.6f}")
        primary_value = ch_eval.metrics.get(spec.primary_metric, float("nan"))
        client.set_model_version_tag(uc, ch_version, "flywheel.primary_metric_value", f"{primary_value:.6f}")
        path = evaluation_path(uc, ch_version)
        result = {
            "challenger_version": ch_version,
            "champion_version": champ_version,
            "challenger_metrics": ch_eval.metrics,
            "champion_metrics": champ_eval.metrics if champ_eval else None,
            "champion_comparable": note is None,
            "comparison_note": note,
            "holdout_path": holdout.path,
            "holdout_version": holdout_version,
            "holdout_rows": len(frame),
            "holdout_positives": positives,
            "challenger_intervals": {k: list(v) for k, v in intervals.items()},
            "evaluation_path": str(path),
            "dagster_run_id": context.run_id,
        }
        atomic_write_text(path, json.dumps(result, indent=1))
        context.add_output_metadata(
            {
                "challenger_version": int(ch_version),
                "champion_version": int(champ_version) if champ_version else None,
                "holdout_version": holdout_version,
                "holdout_positives": positives,
                **{f"interval_{k}": f"{low:.4f} to {high:.4f}" for k, (low, high) in intervals.items()},
                f"holdout_{spec.primary_metric}": float(primary_value),
                "champion_comparison": note or "fair (the champion never trained on this holdout)",
                "side_by_side": _md_table(side_by_side),
                "holdout_report": _md_table(ch_eval.report.head(40)),
                "side_by_side_plot": MetadataValue.md(_png_markdown(compared)),
                "pr_curves": MetadataValue.path(str(figures[0])),
                "roc_curves": MetadataValue.path(str(figures[1])),
                "evaluation_path": MetadataValue.path(str(path)),
            }
        )
        return result

    @asset_check(
        asset=evaluation,
        name=f"{uc}_promotion_gate",
        blocking=True,
        description="Challenger meets thresholds, does not regress beyond tolerance, data checks passed.",
    )
    def promotion_gate(context, evaluation_result: dict[str, Any]) -> AssetCheckResult:
        decision = gate_decision(context.instance, spec, evaluation_result)
        return AssetCheckResult(
            passed=decision.passed,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "decision": decision.summary(),
                "challenger_version": evaluation_result["challenger_version"],
                "champion_version": evaluation_result.get("champion_version") or "none",
            },
        )

    @asset(
        name=f"{uc}_champion",
        group_name=group,
        ins={"evaluation_result": AssetIn(evaluation.key)},
        kinds={"mlflow"},
        automation_condition=AutomationCondition.eager()
        & AutomationCondition.all_deps_blocking_checks_passed(),
        description="Moves alias 'champion' to the evaluated challenger once the promotion gate passed, "
        "if the aliases and the holdout are still what the evaluation saw (compare-and-set).",
    )
    def champion(
        context: AssetExecutionContext, config: ChampionConfig, mlflow_registry: MlflowResource,
        evaluation_result: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        from assets.lifecycle.holdout import HoldoutStore

        if config.challenger_version:
            path = evaluation_path(uc, config.challenger_version)
            if not path.exists():
                raise Failure(f"{uc} v{config.challenger_version} was never evaluated (no {path})")
            evaluation_result = json.loads(path.read_text())
        registry = mlflow_registry.registry()
        version = str(evaluation_result["challenger_version"])
        with registry.locked(uc):  # nothing moves an alias between the checks and the promotion
            current = registry.get_alias(uc, CHAMPION)
            champion_now = str(current.version) if current is not None else None
            decision = gate_decision(context.instance, spec, evaluation_result)
            if champion_now == version:
                entry = {
                    "version": version,
                    "previous": version,
                    "reason": "already champion",
                    "action": "none",
                }
            else:
                challenger_now = registry.get_alias(uc, CHALLENGER)
                holdout_now = HoldoutStore(_lifecycle_dir(spec) / "holdout").current()
                conflicts = promotion_conflicts(
                    evaluation_result,
                    challenger_now=str(challenger_now.version) if challenger_now is not None else None,
                    champion_now=champion_now,
                    holdout_now=holdout_now.version if holdout_now is not None else None,
                    rolled_back=registry.rolled_back(uc, version),
                )
                if conflicts:
                    raise Failure(
                        description=f"refusing to promote {uc} v{version}: " + "; ".join(conflicts),
                        metadata={"conflicts": MetadataValue.json(conflicts)},
                    )
                if not decision.passed:
                    raise Failure(f"refusing to promote {uc} v{version}: {decision.summary()}")
                entry = registry.promote(uc, version, reason=decision.summary(), actor="flywheel-gate")
        context.add_output_metadata(
            {
                "champion_version": int(version),
                "previous_version": entry.get("previous") or "none",
                "reason": entry["reason"] if entry["action"] == "none" else decision.summary(),
                f"holdout_{spec.primary_metric}": float(
                    evaluation_result["challenger_metrics"].get(spec.primary_metric, float("nan"))
                ),
            }
        )
        return entry

    return LifecycleDefinitions(
        assets=[holdout, training_set, challenger, evaluation, champion], checks=[promotion_gate]
    )
