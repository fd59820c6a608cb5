"""The disaster-triage model as MLflow serves it, and the trainers that build it: a configuration of
the shared text classifier (:mod:`assets.trainers.text`).

The served object takes records exactly as they arrive on Kafka (``id``, ``message``, ``genre``; a
missing message is empty text, a missing genre ``unknown``) and returns one probability column per
label plus ``prediction``, the labels at or above their own threshold. Nothing here imports Dagster:
champions are loaded with ``mlflow.pyfunc.load_model`` in plain Python processes.

Thresholds are tuned per label for F2 because missing a call for help costs more than reading a
false alarm (recall weighs four times precision), on a validation split of the training frame; the
classifiers are then refit on all of it and keep those thresholds. Labels that never vary (e.g.
``child_alone``, never 1 in the public data) predict their training rate.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from assets.trainers.serving import DEFAULT_THRESHOLD, pip_requirements
from assets.trainers.text import (
    DEFAULT_RECIPES,
    TextClassifier,
    TextTask,
    prior_trainer,
    text_trainers,
    unseeded,
)

__all__ = [
    "DEFAULT_THRESHOLD",
    "EXTRA_TRAINERS",
    "RECORD_COLUMNS",
    "TASK",
    "TRAINERS",
    "VALIDATION_FRACTION",
    "DisasterTriageModel",
    "pip_requirements",
    "train_majority",
    "train_tfidf_logreg",
    "train_tfidf_wordchar_logreg",
]

#: What arrives on the ``disaster.records`` topic (``original``, the untranslated text, may come too).
RECORD_COLUMNS: tuple[str, ...] = ("id", "message", "genre")
VALIDATION_FRACTION = 0.2
TASK = TextTask(
    text_columns=("message",),
    categorical_columns=("genre",),
    task="multilabel",
    metric="f2",
    validation_fraction=VALIDATION_FRACTION,
)


class DisasterTriageModel(TextClassifier):
    """The shared classifier under the name champions have always been pickled by.

    Champions pickled before the shared classifier carry ``labels``, ``thresholds``, ``rates``,
    ``features`` (over ``message`` and ``genre``, the columns the model's inputs still have) and
    ``classifiers``: :meth:`__setstate__` reads them as the task they were trained for.
    """

    @property
    def labels(self) -> list[str]:
        return self.classes

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "task" not in state:  # pickled by the pre-port class
            state = {
                "task": TASK,
                "classes": state["labels"],
                "rates": state["rates"],
                "thresholds": state["thresholds"],
                "features": state["features"],
                "classifiers": state["classifiers"],
                "classifier": None,
            }
        self.__dict__.update(state)


# Unseeded: liblinear's shuffling of these trainers has always drawn from NumPy's global generator,
# and seeding it now would change every model they train.
_TRAINERS = text_trainers(TASK, unseeded(DEFAULT_RECIPES), DisasterTriageModel)
_MAJORITY = prior_trainer(TASK, DisasterTriageModel)


def train_tfidf_logreg(train_df: pd.DataFrame, labels: list[str], seed: int = 0) -> DisasterTriageModel:
    """Word 1-2 gram TF-IDF and genre, one logistic regression per label: fast and solid."""
    return _TRAINERS["tfidf_logreg"](train_df, labels, seed)


def train_tfidf_wordchar_logreg(
    train_df: pd.DataFrame, labels: list[str], seed: int = 0
) -> DisasterTriageModel:
    """Word and character n-grams and genre; balanced class weights so that rare labels (a few
    dozen positives) are not drowned by their negatives before the thresholds are tuned."""
    return _TRAINERS["tfidf_wordchar_logreg"](train_df, labels, seed)


def train_majority(train_df: pd.DataFrame, labels: list[str], seed: int = 0) -> DisasterTriageModel:
    """A deliberately weak baseline: every label's probability is its training rate and the cut is
    0.5, so it predicts each label's majority value. Tests use it to prove the gate rejects worse."""
    return _MAJORITY(train_df, labels, seed)


TRAINERS = {"tfidf_logreg": train_tfidf_logreg, "tfidf_wordchar_logreg": train_tfidf_wordchar_logreg}
#: Chosen only by run config: the baseline tests use to prove a worse model is refused.
EXTRA_TRAINERS = {"majority": train_majority}
