"""A text classifier use case from one declaration: :class:`TextUseCase` builds a :class:`UseCase`.

Besides what every kit builds (``assets/kits/base.py``: ``<uc>_clean`` from landed
``id,text[,label|labels]`` CSVs, its checks, ``<uc>_training_table``, the lifecycle and the loop):

- the check ``<uc>_text_present``;
- labeling functions (multi-class): plain functions ``text -> class name | None`` voting on the
  unlabelled rows; Snorkel's label model weighs them into probabilistic labels
  (``label_source = weak``) beside the ground truth, and the check ``<uc>_lfs_useful`` blocks a
  promotion while one is worse than chance on the ground truth it votes on;
- a holdout by content: the same text under another id is never trained on when a copy is held out.

The record contract: ``{id, text}`` in; out one probability column per class (or label) and
``prediction``. Dagster only here: Spark, pandas, Snorkel and scikit-learn are imported where used.
"""

from dataclasses import dataclass
from typing import Any

from dagster import AssetCheckResult, MetadataValue, asset_check

from assets.kits.base import KitUseCase, _gx
from assets.lifecycle.spec import ContentKey, LabelledTable
from assets.quality.checks import gx_asset_check
from assets.slots import tables_dir


@dataclass(frozen=True)
class TextUseCase(KitUseCase):
    """A kit use case whose records are texts. ``labeling_functions``: ``"module:LIST"`` of
    functions ``text -> class name | None`` (multi-class only)."""

    labeling_functions: str | None = None

    def record_fields(self) -> tuple[str, ...]:
        return ("text",)

    def drift_inputs(self) -> Any:
        from assets.monitoring.inputs import TextDrift

        return TextDrift("text")

    def content_key(self) -> ContentKey:
        return ContentKey(text=("text",))

    def extra_checks(self) -> list:
        checks = [_text_present(self)]
        return [*checks, _lfs_check(self)] if self.labeling_functions and not self.multilabel else checks

    def training_table(self, clean: Any) -> tuple[LabelledTable, dict]:
        from assets.kits.labels import weak_table

        return weak_table(self, clean, tables_dir(self.name))


def _text_present(kit: TextUseCase) -> Any:
    def expectations(_table: LabelledTable, _frame: Any) -> list:
        return [_gx().ExpectColumnValuesToNotBeNull(column="text")]

    return gx_asset_check(kit.clean_key, f"{kit.name}_text_present", "Every kept row has text.", expectations)


def _lfs_check(kit: TextUseCase) -> Any:
    @asset_check(
        asset=kit.training_key,
        name=f"{kit.name}_lfs_useful",
        blocking=True,
        description="No labeling function is worse than chance on the ground-truth labels it votes on.",
    )
    def _check() -> AssetCheckResult:
        from assets.kits.labels import lf_problems

        problems, summary = lf_problems(kit, tables_dir(kit.name))
        return AssetCheckResult(
            passed=not problems,
            metadata={"problems": MetadataValue.json(problems), "lf_summary": MetadataValue.md(summary)},
        )

    return _check
