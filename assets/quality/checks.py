"""Great Expectations expectations as Dagster asset checks (blocking by default).

A check's expectations are built from the checked table itself (e.g. one expectation per label
column, whatever labels the data has), then validated with :func:`assets.quality.gx_runner.validate`.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetKey,
    MetadataValue,
    asset_check,
)

from assets.lifecycle.spec import LabelledTable

if TYPE_CHECKING:  # pandas and Great Expectations are imported when a check runs
    import pandas as pd

ExpectationsFor = Callable[[LabelledTable, "pd.DataFrame"], list[Any]]
Prepare = Callable[["pd.DataFrame"], "pd.DataFrame"]


def gx_asset_check(
    asset_key: AssetKey,
    name: str,
    description: str,
    expectations: ExpectationsFor,
    blocking: bool = True,
    prepare: Prepare | None = None,
    explain: Callable[["pd.DataFrame"], str | None] | None = None,
) -> AssetChecksDefinition:
    """An asset check that runs GX expectations on a ``LabelledTable`` asset.

    ``prepare`` derives the frame GX validates (e.g. one per-row summary column instead of hundreds
    of raw columns); by default the table itself is validated. ``explain`` turns the validated frame
    of a failed check into a message for people (what was seen, what to do), shown as the check's
    description and in its metadata: a table of failed expectations says what, rarely why.
    """

    @asset_check(asset=asset_key, name=name, description=description, blocking=blocking)
    def _check(table: LabelledTable) -> AssetCheckResult:
        import pandas as pd

        from assets.quality.gx_runner import validate

        frame = table.read()
        if prepare is not None:
            frame = prepare(frame)
        outcomes = validate(frame, expectations(table, frame), name=name)
        failed = [o for o in outcomes if not o.success]
        rows = pd.DataFrame(
            [
                {
                    "expectation": o.expectation,
                    "column": o.column,
                    "success": o.success,
                    "unexpected": o.unexpected_count,
                    "unexpected_%": round(o.unexpected_percent, 4),
                    "sample": ", ".join(map(str, o.sample[:5])),
                }
                for o in outcomes
            ]
        )
        shown = rows[~rows["success"]] if failed else rows.head(12)
        message = explain(frame) if failed and explain is not None else None
        metadata: dict[str, Any] = {
            "rows": len(frame),
            "expectations": len(outcomes),
            "failed_expectations": len(failed),
            "results": MetadataValue.md(shown.to_markdown(index=False)),
        }
        if message:
            metadata["message"] = message
        return AssetCheckResult(
            passed=not failed, severity=AssetCheckSeverity.ERROR, metadata=metadata, description=message
        )

    return _check
