"""The promotion gate's rule, as a pure function: the asset check and the champion asset both call it,
so a champion can never be moved on a decision the gate did not make.

The gate fails closed: a metric that is missing, not a number, NaN or infinite fails it, wherever it
is needed (a threshold, the primary metric, the champion's side of the comparison). Comparisons with
NaN are always false, so without this a NaN would pass every "not below the floor" test.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return ("PASS: " if self.passed else "FAIL: ") + "; ".join(self.reasons)


def _finite(metrics: Mapping[str, object], name: str, whose: str) -> tuple[float | None, str | None]:
    """(value, None) for a finite number, else (None, why it cannot be used)."""
    if name not in metrics or metrics[name] is None:
        return None, f"{name} missing from the {whose}'s evaluation"
    value = metrics[name]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None, f"{whose}'s {name}={value!r} is not a number"
    if not math.isfinite(float(value)):
        return None, f"{whose}'s {name}={value} is not finite"
    return float(value), None


def _threshold(
    challenger: Mapping[str, float],
    metric: str,
    floor: float,
    sign: float,
    intervals: Mapping[str, Sequence[float]] | None,
    positives: int | None,
    level: float,
) -> tuple[bool, str]:
    """One absolute threshold: (passed, why), on the interval's cautious end when there is one."""
    value, problem = _finite(challenger, metric, "challenger")
    if problem is not None:
        return False, problem
    interval = (intervals or {}).get(metric)
    if interval is None:
        if sign * (value - floor) < 0:
            return False, f"{metric}={value:.4f} misses threshold {floor:.4f}"
        return True, f"{metric}={value:.4f} meets threshold {floor:.4f}"
    low, high = float(interval[0]), float(interval[1])
    cautious = low if sign > 0 else high
    over = f" over {positives} positives" if positives is not None else ""
    described = f"{metric}={value:.4f} ({level:.0%} interval {low:.4f} to {high:.4f}{over})"
    end = "lower" if sign > 0 else "upper"
    if not math.isfinite(cautious) or sign * (cautious - floor) < 0:
        return False, f"{described}: {end} bound {cautious:.4f} misses threshold {floor:.4f}"
    return True, f"{described}: {end} bound {cautious:.4f} meets threshold {floor:.4f}"


def _no_regression(
    challenger: Mapping[str, float], champion: Mapping[str, float], metric: str, tolerance: float, sign: float
) -> tuple[bool, str]:
    new, problem = _finite(challenger, metric, "challenger")
    old, champion_problem = _finite(champion, metric, "champion")
    if new is None or old is None:
        return False, f"cannot compare {metric} with the champion: {champion_problem or problem}"
    if sign * (new - old) < -tolerance:
        return False, f"{metric} regresses {old:.4f} -> {new:.4f} (tolerance {tolerance:.4f})"
    return True, f"{metric} {old:.4f} -> {new:.4f} within tolerance {tolerance:.4f}"


def decide(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    primary_metric: str,
    thresholds: Mapping[str, float],
    tolerance: float,
    failed_data_checks: Sequence[str] = (),
    higher_is_better: bool = True,
    champion_note: str | None = None,
    intervals: Mapping[str, Sequence[float]] | None = None,
    positives: int | None = None,
    min_positives: int = 0,
    level: float = 0.90,
    guarded: Mapping[str, float] | None = None,
) -> GateDecision:
    """Pass only when every absolute threshold holds, the primary metric is a finite number and does
    not regress against the champion by more than ``tolerance``, and no upstream data check failed.

    With no champion (first run) only the thresholds apply; so they do when ``champion`` is None
    because the champion cannot be compared fairly (``champion_note`` says why, e.g. it trained on
    rows of the current holdout).

    A threshold is judged on the cautious end of the metric's bootstrap interval when ``intervals``
    holds one (see ``assets.lifecycle.confidence``): the point estimate alone passes on luck when the
    holdout is small. With ``positives`` below ``min_positives`` no threshold is judged: the gate
    fails and says how many positives there are and how many it needs.

    ``guarded`` metrics (name -> tolerance) must not regress against the champion either, e.g. a
    score on series the model never trained on beside the holdout's primary metric.
    """
    reasons: list[str] = []
    ok = True
    sign = 1.0 if higher_is_better else -1.0
    if thresholds and positives is not None and positives < min_positives:
        ok = False
        reasons.append(
            f"{positives} positives in the holdout; at least {min_positives} are needed to judge "
            + ", ".join(thresholds)
        )
    else:
        for metric, floor in thresholds.items():
            passed, reason = _threshold(challenger, metric, floor, sign, intervals, positives, level)
            ok = ok and passed
            reasons.append(reason)
    new, problem = _finite(challenger, primary_metric, "challenger")
    if problem is not None and primary_metric not in thresholds:
        ok = False
        reasons.append(problem)
    if champion is None:
        note = f"{champion_note}: " if champion_note else "no champion yet: "
        reasons.append(note + "thresholds alone decide")
    else:
        for metric, allowed in {primary_metric: tolerance, **(guarded or {})}.items():
            passed, reason = _no_regression(challenger, champion, metric, allowed, sign)
            ok = ok and passed
            reasons.append(reason)
    if failed_data_checks:
        ok = False
        reasons.append("upstream data checks not passed: " + ", ".join(failed_data_checks))
    return GateDecision(ok, reasons)
