"""What the labelled flow table must satisfy before training (blocking GX checks).

Each check derives one per-row column from the table (``prepare``, pandas) and GX validates it:

- ``flow_times_increasing``: within a series, each reading is later than the one before;
- ``flow_cadence_regular``: each step is one cadence (±10 %) or a marked gap;
- ``flow_values_finite``: every value is a finite number;
- ``flow_label_share``: anomalies are under half of the labelled readings (more means a label
  source is inverted or broken, e.g. a corrected column holding another quantity).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

MAX_LABEL_SHARE = 0.5
CADENCE_TOLERANCE = 0.1


def _expectations() -> Any:
    import great_expectations as gx

    return gx.expectations


def _steps(frame: pd.DataFrame) -> tuple[Any, Any]:
    """(step in seconds before each reading in table order, whether it is the series' first)."""
    import numpy as np
    import pandas as pd

    t = pd.to_datetime(frame["time"], utc=True).astype("int64").to_numpy()
    series = frame["series"].astype(str).to_numpy()
    first = np.r_[True, series[1:] != series[:-1]]
    steps = np.r_[0, np.diff(t)] / 1e9
    return steps, first


def prepare_increasing(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    steps, first = _steps(frame)
    return pd.DataFrame({"increasing": (steps > 0) | first})


def prepare_cadence(frame: pd.DataFrame) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    steps, first = _steps(frame)
    cadence = frame["cadence_s"].to_numpy(dtype=float)
    regular = np.abs(steps - cadence) <= CADENCE_TOLERANCE * cadence
    return pd.DataFrame({"regular": regular | first | frame["gap_before"].to_numpy(dtype=bool)})


def prepare_finite(frame: pd.DataFrame) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    return pd.DataFrame({"finite": np.isfinite(frame["value"].to_numpy(dtype=float))})


def prepare_share(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    scored = frame[frame["scored"].astype(bool)]
    return pd.DataFrame({"anomalous": (scored["label"] == "anomaly").astype(float)})


@dataclass(frozen=True)
class FlowCheck:
    name: str
    description: str
    prepare: Callable[[pd.DataFrame], pd.DataFrame]
    expectations: Callable[[pd.DataFrame], list[Any]]
    explain: Callable[[pd.DataFrame], str | None] | None = None


def _all_true(column: str) -> Callable[[pd.DataFrame], list[Any]]:
    return lambda _frame: [_expectations().ExpectColumnValuesToBeInSet(column=column, value_set=[True])]


def flow_checks() -> list[FlowCheck]:
    return [
        FlowCheck(
            "flow_times_increasing",
            "Within each series, times are strictly increasing after cleaning.",
            prepare_increasing,
            _all_true("increasing"),
        ),
        FlowCheck(
            "flow_cadence_regular",
            "Each step between readings is the series' cadence (±10 %) or a marked gap.",
            prepare_cadence,
            _all_true("regular"),
            lambda f: f"{int((~f['regular']).sum())} steps are neither the cadence nor a marked gap",
        ),
        FlowCheck(
            "flow_values_finite",
            "Every reading's value is a finite number.",
            prepare_finite,
            _all_true("finite"),
        ),
        FlowCheck(
            "flow_label_share",
            f"Anomalies are under {MAX_LABEL_SHARE:.0%} of the labelled readings.",
            prepare_share,
            lambda _f: [
                _expectations().ExpectColumnMeanToBeBetween(
                    column="anomalous", min_value=0.0, max_value=MAX_LABEL_SHARE, strict_max=True
                )
            ],
            lambda f: (
                f"{f['anomalous'].mean():.1%} of labelled readings are anomalous (max {MAX_LABEL_SHARE:.0%})"
            ),
        ),
    ]
