"""Run Great Expectations 1.x expectations on a pandas or Spark DataFrame and summarise the outcome.

GX is used directly (an ephemeral context, no project folder) because dagster-ge pins GX < 1.
The Dagster side only turns an outcome into an ``AssetCheckResult``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx  # noqa: E402


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    element_count: int
    unexpected_count: int
    unexpected_percent: float
    sample: list[Any]


def _context() -> Any:
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    return context


def validate(df: Any, expectations: list[Any], name: str) -> list[ExpectationOutcome]:
    """Validate ``df`` (pandas or pyspark) against ``expectations``; one outcome per expectation."""
    context = _context()
    is_spark = type(df).__module__.startswith("pyspark")
    source = context.data_sources.add_spark(name) if is_spark else context.data_sources.add_pandas(name)
    batch_def = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
    batch = batch_def.get_batch(batch_parameters={"dataframe": df})
    suite = gx.ExpectationSuite(name=f"{name}_suite")
    for expectation in expectations:
        suite.add_expectation(expectation)
    result = batch.validate(suite)
    outcomes = []
    for r in result.results:
        res = r.result or {}
        outcomes.append(
            ExpectationOutcome(
                expectation=r.expectation_config.type,
                column=r.expectation_config.kwargs.get("column"),
                success=bool(r.success),
                element_count=int(res.get("element_count") or 0),
                unexpected_count=int(res.get("unexpected_count") or 0),
                unexpected_percent=float(res.get("unexpected_percent") or 0.0),
                sample=list(res.get("partial_unexpected_list") or [])[:10],
            )
        )
    return outcomes
