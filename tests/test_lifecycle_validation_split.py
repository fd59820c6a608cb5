"""The challenger's validation split on small data: a usable hash draw is kept as is; an empty or
one-class draw gets one row per class (deterministically); a split that cannot work fails clearly."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import Failure

from assets.lifecycle.factory import validation_split


def _frame(labels: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"g{i}" for i in range(len(labels))], "label": labels})


def test_usable_draw_and_multilabel_are_unchanged() -> None:
    frame = _frame(["a", "a", "b", "b", "c"])
    drawn = pd.Series([True, False, True, False, False])
    assert validation_split(frame, drawn, "id", "label", "s").tolist() == drawn.tolist()
    empty = pd.Series([False] * 5)
    assert validation_split(frame, empty, "id", None, "s").tolist() == empty.tolist()


@pytest.mark.parametrize("drawn", [[False] * 6, [True, False, False, False, False, False], [True] * 6])
def test_empty_or_one_class_draw_gets_a_row_of_every_class(drawn: list[bool]) -> None:
    frame = _frame(["a", "a", "b", "b", "c", "c"])
    mask = validation_split(frame, pd.Series(drawn), "id", "label", "s")
    assert sorted(frame.loc[mask, "label"].unique()) == ["a", "b", "c"]
    assert sorted(frame.loc[~mask, "label"].unique()) == ["a", "b", "c"]  # every class still trains
    assert mask.tolist() == validation_split(frame, pd.Series(drawn), "id", "label", "s").tolist()


def test_a_class_with_one_row_stays_in_training() -> None:
    frame = _frame(["a", "a", "b", "b", "c"])
    mask = validation_split(frame, pd.Series([False] * 5), "id", "label", "s")
    assert sorted(frame.loc[mask, "label"]) == ["a", "b"] and "c" in set(frame.loc[~mask, "label"])


def test_unsplittable_data_fails_with_the_counts() -> None:
    frame = _frame(["a", "a", "a", "b"])
    with pytest.raises(Failure, match=r"0 validation and 4 training rows.*'a': 3, 'b': 1"):
        validation_split(frame, pd.Series([False] * 4), "id", "label", "s")
