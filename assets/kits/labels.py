"""The training table of a kit use case: its ground truth (and, for text, weak labels from its labeling
functions).

A kit labeling function is a plain function ``text -> class name | None`` (None: abstain); it is
wrapped here into a Snorkel ``LabelingFunction`` over the use case's classes, so use cases write rules
in their own terms and never see vote positions. The label model, the LF analysis and the blocking
check are the shared ones (:mod:`assets.labeling.weak_supervision`). Multi-label use cases train on
their ground truth and annotations only (a per-label label model would need LFs that vote "no" as
well as "yes", which keyword rules seldom do). No Dagster here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from assets.lazy import resolve
from assets.lifecycle.spec import LabelledTable

#: Where a training row's label came from (``label_source``): the holdout takes ground truth only.
GROUND_TRUTH, WEAK = "ground_truth", "weak"
SUMMARY_FILE = "lf_summary.json"


def snorkel_lfs(functions: Sequence[Callable[[str], str | None]], classes: Sequence[str]) -> list:
    """Each ``text -> class name | None`` function as a Snorkel LF voting that class's position;
    a name outside ``classes`` is an abstention."""
    from snorkel.labeling import LabelingFunction

    position = {c: j for j, c in enumerate(classes)}

    def vote(x: Any, fn: Callable[[str], str | None]) -> int:
        return position.get(fn(str(x.text)), -1)

    return [LabelingFunction(name=fn.__name__, f=vote, resources={"fn": fn}) for fn in functions]


def _classes(kit: Any, labelled: pd.DataFrame) -> tuple[str, ...]:
    return tuple(kit.labels) if kit.labels else tuple(sorted(labelled["label"].astype(str).unique()))


def _multilabel_table(kit: Any, clean: pd.DataFrame, out: Path) -> tuple[LabelledTable, dict]:
    labelled = clean[clean["labels"].notna()].copy()
    names = tuple(kit.labels) if kit.labels else tuple(sorted({n for row in labelled["labels"] for n in row}))
    for name in names:
        labelled[name] = [int(name in row) for row in labelled["labels"]]
    frame = labelled.drop(columns=["labels"]).assign(label_source=GROUND_TRUTH)
    meta = {"ground_truth": len(frame), "labels": len(names), "unlabelled": len(clean) - len(frame)}
    return _write(frame, out, names, meta, label_column=None)


def _write(
    frame: pd.DataFrame, out: Path, classes: tuple[str, ...], meta: dict, label_column: str | None = "label"
) -> tuple[LabelledTable, dict]:
    """The training table as the lifecycle reads it (multi-label: no label column, one per label)."""
    frame = frame.drop(columns=["source_file"], errors="ignore")
    path = out / "training_table.parquet"
    frame.to_parquet(path, index=False)
    return LabelledTable(str(path), classes, "id", label_column), {**meta, "rows": len(frame)}


def ground_truth_table(kit: Any, clean: pd.DataFrame, out: Path) -> tuple[LabelledTable, dict]:
    """The labelled rows as they are (``label_source = ground_truth``); unlabelled rows wait for the
    annotation page."""
    out.mkdir(parents=True, exist_ok=True)
    if kit.multilabel:
        return _multilabel_table(kit, clean, out)
    labelled = clean[clean["label"].notna()].assign(label_source=GROUND_TRUTH)
    classes = _checked_classes(kit, labelled)
    meta = {"ground_truth": len(labelled), "unlabelled": len(clean) - len(labelled), "classes": len(classes)}
    return _write(labelled, out, classes, meta)


def _checked_classes(kit: Any, labelled: pd.DataFrame) -> tuple[str, ...]:
    classes = _classes(kit, labelled)
    if len(classes) < 2:
        raise ValueError(f"a classifier needs two classes in the labelled rows; found {list(classes)}")
    return classes


def weak_table(kit: Any, clean: pd.DataFrame, out: Path) -> tuple[LabelledTable, dict]:
    """Ground truth plus the unlabelled rows the labeling functions voted on, weakly labelled."""
    out.mkdir(parents=True, exist_ok=True)
    if kit.multilabel or not kit.labeling_functions or not resolve(kit.labeling_functions):
        return ground_truth_table(kit, clean, out)
    labelled = clean[clean["label"].notna()].assign(label_source=GROUND_TRUTH)
    classes = _checked_classes(kit, labelled)
    unlabelled = clean[clean["label"].isna()].drop(columns=["label"])
    parts, meta = [labelled], {"ground_truth": len(labelled), "weak": 0, "classes": len(classes)}
    summary = pd.DataFrame()
    if len(unlabelled):
        weak, summary = _weak(kit, unlabelled, labelled, classes)
        parts.append(weak)
        meta["weak"] = len(weak)
    _write_summary(out, summary)
    meta["unlabelled_without_votes"] = len(unlabelled) - meta["weak"]
    if len(summary):
        meta["lf_summary"] = summary.round(4).to_markdown(index=False)
    return _write(pd.concat(parts, ignore_index=True), out, classes, meta)


#: Snorkel's LabelModel needs this many LFs; with fewer, their votes are counted instead.
LABEL_MODEL_MIN_LFS = 3


def _weak(kit: Any, unlabelled: pd.DataFrame, labelled: pd.DataFrame, classes: tuple[str, ...]) -> tuple:
    """Weak labels of the rows at least one LF voted on (the rest stay unlabelled: the prior alone
    is no label), and the LF summary measured on the ground truth."""
    from assets.labeling.weak_supervision import weak_labels
    from assets.trainers.targets import LF_VOTES

    lfs = snorkel_lfs(resolve(kit.labeling_functions), classes)
    dev = labelled[["id", "text", "label"]].astype({"label": str})
    rows = unlabelled.reset_index(drop=True)
    if len(lfs) >= LABEL_MODEL_MIN_LFS:
        weak, summary = weak_labels(rows, lfs, classes, dev=dev, label_column="label")
    else:
        weak, summary = _vote_shares(rows, lfs, classes, dev)
    weak = weak[weak[LF_VOTES] > 0].assign(label_source=WEAK)
    return weak, summary


def _vote_shares(rows: pd.DataFrame, lfs: list, classes: tuple[str, ...], dev: pd.DataFrame) -> tuple:
    """One or two LFs: P(class) = the share of the votes it got (no model to weigh so few rules)."""
    import numpy as np

    from assets.labeling.weak_supervision import ABSTAIN, apply_lfs, lf_summary
    from assets.trainers.targets import LF_VOTES, class_indices, soft_column

    L = apply_lfs(lfs, rows, columns=["text"])
    counts = np.stack([(j == L).sum(axis=1) for j in range(len(classes))], axis=1).astype(float)
    votes = counts.sum(axis=1)
    shares = np.divide(
        counts, votes[:, None], out=np.full_like(counts, 1 / len(classes)), where=votes[:, None] > 0
    )
    weak = rows.assign(
        label=[classes[j] for j in shares.argmax(axis=1)],
        **{soft_column(c): shares[:, j] for j, c in enumerate(classes)},
        **{LF_VOTES: (L != ABSTAIN).sum(axis=1)},
    )
    L_dev = apply_lfs(lfs, dev, columns=["text"]) if len(dev) else None
    y_dev = class_indices(dev["label"], classes) if len(dev) else None
    return weak, lf_summary(lfs, L, L_dev, y_dev)


def _write_summary(out: Path, summary: pd.DataFrame) -> None:
    records = json.loads(summary.to_json(orient="records")) if len(summary) else []
    (out / SUMMARY_FILE).write_text(json.dumps(records))


def lf_problems(kit: Any, out: Path) -> tuple[list[str], str]:
    """What blocks a promotion in the latest LF summary, and the summary as markdown. An LF that never
    voted is idle, not harmful (a scaffold's examples abstain until filled in): it is not a problem."""
    from assets.labeling.weak_supervision import check_lfs

    path = out / SUMMARY_FILE
    summary = pd.DataFrame(json.loads(path.read_text())) if path.exists() else pd.DataFrame()
    if summary.empty:
        return [], "no labeling function ran (no unlabelled rows, or none declared)"
    active = summary[summary["coverage"] > 0]
    return (check_lfs(active) if len(active) else []), summary.round(4).to_markdown(index=False)
