"""An image classifier for use cases whose records are single images (``image``: base64 PNG/JPEG): a
small grayscale grid per image (:mod:`assets.trainers.image_pixels`), its pixels as features, then the
shared tabular estimators (logistic regression on standardised pixels, histogram gradient boosting).
The served model (:class:`~assets.trainers.featurized.FeaturizedClassifier`) decodes the records as
they arrive; an image it cannot read gets the training rates (the loop's prepare hook dead-letters
such records before they reach it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from assets.trainers.featurized import FeaturizedClassifier, featurized_baseline, featurized_trainers
from assets.trainers.image_pixels import SIDE, ImageError, grid, image_bytes
from assets.trainers.serving import pip_requirements
from assets.trainers.tabular import TabularTask

__all__ = [
    "ImageTask",
    "baseline_trainers",
    "image_trainers",
    "pip_requirements",
    "pixel_frame",
]


@dataclass(frozen=True)
class ImageTask:
    """``image_column`` holds each image; ``side`` the grid it is resized to; ``metric`` and
    ``positive_class`` go to the tabular trainers' threshold."""

    image_column: str = "image"
    side: int = SIDE
    metric: str = "none"
    positive_class: str | None = None
    label_column: str = "label"

    @property
    def pixels(self) -> tuple[str, ...]:
        return tuple(f"px_{i}" for i in range(self.side * self.side))

    def tabular(self) -> TabularTask:
        return TabularTask(
            feature_columns=self.pixels,
            metric=self.metric,
            positive_class=self.positive_class,
            label_column=self.label_column,
        )


def _pixels(value: Any, side: int) -> np.ndarray:
    try:
        return grid(image_bytes(value), side).ravel()
    except ImageError:
        return np.full(side * side, np.nan, dtype=np.float32)


def pixel_frame(records: pd.DataFrame, task: ImageTask) -> pd.DataFrame:
    """One row of pixel features per record, on the records' index (NaN for an unreadable image)."""
    images = records[task.image_column] if task.image_column in records.columns else [None] * len(records)
    matrix = (
        np.stack([_pixels(v, task.side) for v in images]) if len(records) else np.empty((0, task.side**2))
    )
    return pd.DataFrame(matrix, columns=list(task.pixels), index=records.index)


def image_trainers(
    task: ImageTask, estimators: Sequence[str] = ("logreg", "hist_gbm")
) -> dict[str, Callable[..., FeaturizedClassifier]]:
    """The competing trainers (``LifecycleSpec.trainers``): each tabular estimator on the pixels."""
    return featurized_trainers(partial(pixel_frame, task=task), task.tabular(), estimators, "pixels")


def baseline_trainers(task: ImageTask) -> dict[str, Callable[..., FeaturizedClassifier]]:
    """The ``majority`` baseline only run config picks (``LifecycleSpec.extra_trainers``)."""
    return featurized_baseline(partial(pixel_frame, task=task), task.tabular())
