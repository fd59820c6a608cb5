"""The promotion gate's rule, as a pure function: the asset check and the champion asset both call it,
so a champion can never be moved on a decision the gate did not make."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return ("PASS: " if self.passed else "FAIL: ") + "; ".join(self.reasons)


def decide(
    challenger: Mapping[str, float],
    champion: Mapping[str, float] | None,
    primary_metric: str,
    thresholds: Mapping[str, float],
    tolerance: float,
    failed_data_checks: Sequence[str] = (),
    higher_is_better: bool = True,
) -> GateDecision:
    """Pass only when every absolute threshold holds, the primary metric does not regress against
    the champion by more than ``tolerance``, and no upstream data check failed.

    With no champion (first run) only the thresholds apply.
    """
    reasons: list[str] = []
    ok = True
    sign = 1.0 if higher_is_better else -1.0
    for metric, floor in thresholds.items():
        value = challenger.get(metric)
        if value is None:
            ok = False
            reasons.append(f"{metric} missing from the challenger's evaluation")
        elif sign * (value - floor) < 0:
            ok = False
            reasons.append(f"{metric}={value:.4f} misses threshold {floor:.4f}")
        else:
            reasons.append(f"{metric}={value:.4f} meets threshold {floor:.4f}")
    if champion is None:
        reasons.append("no champion yet: thresholds alone decide")
    else:
        new, old = challenger.get(primary_metric), champion.get(primary_metric)
        if new is None or old is None:
            ok = False
            reasons.append(f"{primary_metric} missing for challenger or champion")
        elif sign * (new - old) < -tolerance:
            ok = False
            reasons.append(f"{primary_metric} regresses {old:.4f} -> {new:.4f} (tolerance {tolerance:.4f})")
        else:
            reasons.append(f"{primary_metric} {old:.4f} -> {new:.4f} within tolerance {tolerance:.4f}")
    if failed_data_checks:
        ok = False
        reasons.append("upstream data checks not passed: " + ", ".join(failed_data_checks))
    return GateDecision(ok, reasons)
