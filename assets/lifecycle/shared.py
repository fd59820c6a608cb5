"""What the lifecycle's asset builders share: where a use case's files live, the tags a registered
version carries, and how a model is scored on labelled rows.

Plain functions, no Dagster definitions: ``assets.lifecycle.factory`` re-exports the public ones
(``evaluation_path``, ``materialized_path``, ``latest_evaluation``), so callers keep importing them
from there.
"""

import base64
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import AssetKey, DagsterInstance, Failure, MetadataValue

from assets.lazy import resolve
from assets.lifecycle.spec import LabelledTable, LifecycleSpec
from orchestration.files import prune_run_dirs
from orchestration.settings import get_settings

if TYPE_CHECKING:  # pandas and scikit-learn (evaluation) are imported inside the steps
    import pandas as pd

    from assets.lifecycle.evaluation import Evaluation

TRAINED_ON_TAG = "flywheel.trained_on"
HOLDOUT_VERSION_TAG = "flywheel.holdout_version"
PRIMARY_VALUE_TAG = "flywheel.primary_metric_value"
#: What drift monitoring compares a version's stream with (``assets.loop.monitoring``).
TRAINING_SET_TAG = "flywheel.training_set"
VALIDATION_OUTPUTS_TAG = "flywheel.validation_outputs"


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


def _time_split(spec: LifecycleSpec, frame: "pd.DataFrame", fraction: float) -> Any:
    """The temporal holdout/validation mask (numpy) of ``frame``, or None for the hash split."""
    if spec.temporal_holdout is None:
        return None
    from assets.lifecycle.holdout import in_time_holdout

    th = spec.temporal_holdout
    groups = frame[th.series_column] if th.series_column else None
    return in_time_holdout(frame[th.time_column], groups, fraction).to_numpy(dtype=bool)


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
) -> "Evaluation":
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
