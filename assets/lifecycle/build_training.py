"""``<uc>_training_set``: everything labelled except the frozen holdout, plus the annotators' labels.

A holdout record stays out by id, by group (``LifecycleSpec.group_column``), by time (a temporal
holdout's later readings) and by content (the same record under another id), whichever label an
annotator gave it: trained on, it would be judged on what the model learnt by heart.
"""

import json
from typing import TYPE_CHECKING, Any

from dagster import AssetExecutionContext, AssetIn, AssetsDefinition, MetadataValue, asset

from assets.lifecycle.shared import _content_keys, _holdout_version, _lifecycle_dir, _md_table, _run_dir
from assets.lifecycle.spec import LabelledTable, LifecycleSpec, TrainingSet
from orchestration.files import atomic_write_text

if TYPE_CHECKING:  # pandas is imported inside the step
    import pandas as pd


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


def _without_holdout(
    spec: LifecycleSpec,
    source: LabelledTable,
    holdout: LabelledTable,
    frame: "pd.DataFrame",
    held: "pd.DataFrame",
    annotations: LabelledTable | None,
) -> "tuple[pd.DataFrame, dict[str, Any]]":
    """The rows of ``frame`` (plus annotated rows) a model may train on, and how many each rule
    kept out (the training set's metadata, in the order the UI shows it)."""
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
        train, annotated, meta["annotated_rows_in_holdout"] = _with_annotations(train, annotations, held_ids)
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
    return train, meta


def _label_summary(spec: LifecycleSpec, source: LabelledTable, train: "pd.DataFrame") -> dict[str, Any]:
    """How the training rows spread over the labels (prevalence, or rows per class)."""
    if spec.task == "multilabel":
        prevalence = train[list(source.labels)].mean().rename_axis("label").reset_index(name="prevalence")
        return {"label_prevalence": _md_table(prevalence)}
    counts = train[source.label_column].value_counts().rename_axis("class").reset_index(name="rows")
    return {"class_counts": _md_table(counts)}


def _build_training_set(
    context: AssetExecutionContext,
    spec: LifecycleSpec,
    source: LabelledTable,
    holdout: LabelledTable,
    annotations: LabelledTable | None = None,
) -> TrainingSet:
    """Write this run's training set (under its own run folder) and describe it."""
    frame = source.read()
    held = holdout.read()
    train, meta = _without_holdout(spec, source, holdout, frame, held, annotations)
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
    meta.update(_label_summary(spec, source, train))
    context.add_output_metadata(meta)
    return TrainingSet(
        str(path), source.labels, source.id_column, source.label_column, holdout_version=holdout_version
    )


def _training_set_asset(spec: LifecycleSpec, holdout: AssetsDefinition) -> AssetsDefinition:
    """The training set asset; it reads ``<uc>_annotations`` only when the use case has annotators."""
    training_ins = {"source": AssetIn(spec.source), "holdout": AssetIn(holdout.key)}
    training_kwargs: dict[str, Any] = {
        "name": f"{spec.use_case}_training_set",
        "group_name": spec.use_case,
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
            return _build_training_set(context, spec, source, holdout, annotations)

    else:

        @asset(ins=training_ins, **training_kwargs)
        def training_set(
            context: AssetExecutionContext, source: LabelledTable, holdout: LabelledTable
        ) -> TrainingSet:
            return _build_training_set(context, spec, source, holdout)

    return training_set
