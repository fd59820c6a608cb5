"""What drift is measured on, per use case: plain functions and small declarations, no Dagster.

A use case names its drift inputs on its ``LoopSpec`` (``drift_inputs``): ``TextDrift("message")``
for a text field (length, vocabulary and embedding statistics, see ``assets.monitoring.drift``) or
``NumericDrift((...))`` for numeric fields. Each has two halves: ``reference`` reads the training
set a version was trained on once (keeping what the batch side needs, e.g. the vocabulary) and
``features`` turns a scored batch's records into the same columns.

The model's side (``output_features``) is the same for every use case: the top class, the confidence
and, for multi-label models, how many labels have a probability over one half. Its reference is
the version's own
predictions on its validation rows, which it did not train on: predictions on training rows are
more confident than on anything new, so they would read as drift on every batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # use cases declare these in definitions modules, which must load light
    import numpy as np
    import pandas as pd


@dataclass(frozen=True)
class TextDrift:
    """Drift of one text field: length, tokens, out-of-vocabulary share, case, digits, embedding."""

    column: str

    def reference(self, frame: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
        from assets.monitoring.drift import text_reference

        vocabulary, features = text_reference(
            frame[self.column].fillna("").astype(str).reset_index(drop=True)
        )
        return {"vocabulary": list(vocabulary)}, features

    def features(self, state: dict[str, Any], records: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        from assets.monitoring.drift import text_features

        texts = records[self.column] if self.column in records else pd.Series([""] * len(records))
        return text_features(
            texts.fillna("").astype(str).reset_index(drop=True), frozenset(state["vocabulary"])
        )


@dataclass(frozen=True)
class NumericDrift:
    """Drift of numeric fields as they are (non-numbers become NaN and are left out per feature)."""

    columns: tuple[str, ...]

    def reference(self, frame: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
        return {}, self.features({}, frame)

    def features(self, state: dict[str, Any], records: pd.DataFrame) -> pd.DataFrame:
        import pandas as pd

        present = [c for c in self.columns if c in records]
        return records[present].apply(pd.to_numeric, errors="coerce").reset_index(drop=True)


def output_features(
    proba: np.ndarray, labels: Sequence[str], multilabel: bool
) -> tuple[pd.DataFrame, pd.Series]:
    """The model's side of a batch: numeric ``confidence`` (and ``labels_p_over_half`` for multi-label)
    and the categorical top class."""
    import numpy as np
    import pandas as pd

    from assets.loop.scoring import confidence

    proba = np.asarray(proba, dtype=float)
    numeric = {"confidence": confidence(proba, multilabel)}
    if multilabel:
        numeric["labels_p_over_half"] = (proba >= 0.5).sum(axis=1).astype(float)
    top = pd.Series(
        np.asarray(list(labels), dtype=object)[proba.argmax(axis=1)] if len(proba) else [], dtype=object
    )
    return pd.DataFrame(numeric), top.rename("top_class")


def records_frame(raw_records: Sequence[str]) -> pd.DataFrame:
    """A batch's stored records (their JSON, as they arrived) as a frame."""
    import pandas as pd

    return pd.DataFrame([json.loads(r) for r in raw_records])
