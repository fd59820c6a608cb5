"""``<uc>_holdout``: the frozen holdout, drawn once and replaced only on request, with a reason.

A new version is drawn from rows no registered version trained on (by id or by content), so the
champion, too, is judged on records it never saw; ``assets.lifecycle.holdout`` holds the rules.
"""

from typing import TYPE_CHECKING, Any

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetsDefinition,
    Config,
    Failure,
    MetadataValue,
    asset,
)

from assets.lazy import resolve
from assets.lifecycle.shared import TRAINED_ON_TAG, _content_keys, _lifecycle_dir, _time_split
from assets.lifecycle.spec import HoldoutTable, LabelledTable, LifecycleSpec
from resources.mlflow_registry import MlflowRegistry, MlflowResource

if TYPE_CHECKING:  # pandas and the holdout store are imported inside the step
    import pandas as pd

    from assets.lifecycle.holdout import HoldoutStore, HoldoutVersion


class HoldoutConfig(Config):
    """Replacing the frozen holdout is an explicit act and needs a reason (it is logged)."""

    replace: bool = False
    reason: str = ""


def _trained_on(registry: MlflowRegistry, spec: LifecycleSpec) -> "tuple[set[str], set[str], list[str]]":
    """(ids, content keys, versions without a record): what registered versions trained on."""
    import pandas as pd

    ids: set[str] = set()
    keys: set[str] = set()
    unknown: list[str] = []
    folder = _lifecycle_dir(spec) / "trained_on"
    for version in registry.versions(spec.use_case):
        name = (version.tags or {}).get(TRAINED_ON_TAG)
        if not name or not (folder / name).exists():
            unknown.append(str(version.version))
            continue
        record = pd.read_parquet(folder / name)
        ids.update(record["id"].astype(str))
        keys.update(record["content_key"].astype(str))
    return ids, keys, unknown


def _freeze_next_holdout(
    spec: LifecycleSpec,
    frame: "pd.DataFrame",
    id_column: str,
    store: "HoldoutStore",
    registry: MlflowRegistry,
    eligible: Any,
    reason: str,
) -> "tuple[HoldoutVersion, dict[str, Any]]":
    """Freeze the next holdout version, from rows no registered version trained on if any."""
    from assets.lifecycle.holdout import draw_holdout

    current = store.current()
    version = 1 if current is None else current.version + 1
    trained_ids, trained_keys, unknown = _trained_on(registry, spec)
    ids = frame[id_column]
    keys = _content_keys(spec, frame, id_column)
    untrained = ~(ids.astype(str).isin(trained_ids) | keys.isin(trained_keys)).to_numpy(dtype=bool)
    if unknown:  # a version without a record may have trained on any row
        untrained[:] = False
    mask, fresh = draw_holdout(
        spec.group_keys(frame, id_column),
        spec.holdout_fraction,
        f"{spec.use_case}-holdout-v{version}",
        eligible,
        untrained,
        chosen=_time_split(spec, frame, spec.holdout_fraction),
    )
    reason = reason or "first holdout"
    if not fresh:
        why = (
            f"v{', v'.join(unknown)} kept no record of what they trained on"
            if unknown
            else "registered versions trained on every eligible row"
        )
        reason += f" (not fresh: {why}; the next gate judges on thresholds alone)"
    rows = frame[mask].reset_index(drop=True)
    inputs = resolve(spec.holdout_inputs)(rows) if spec.holdout_inputs is not None else None
    frozen = store.freeze(rows, reason=reason, fresh=fresh, inputs=inputs)
    return frozen, {
        "untrained_eligible_rows": int((untrained & eligible).sum()),
        "versions_without_training_record": ", ".join(unknown) or "none",
    }


def _current_holdout(
    context: AssetExecutionContext,
    spec: LifecycleSpec,
    config: HoldoutConfig,
    mlflow_registry: MlflowResource,
    store: "HoldoutStore",
    source: LabelledTable,
) -> "tuple[HoldoutVersion, bool, dict[str, Any]]":
    """(the holdout, whether this run replaced it, what the draw found): the frozen one, or a new
    one when there is none yet or ``config.replace`` asks for it."""
    import numpy as np

    current = store.current()
    replaced = False
    drawn: dict[str, Any] = {}
    if current is None or config.replace:
        if config.replace and not config.reason.strip():
            raise Failure("replacing the frozen holdout needs a reason (config: reason)")
        registry = mlflow_registry.registry()
        frame = source.read()
        eligible = (
            spec.holdout_eligible(frame).to_numpy(dtype=bool)
            if spec.holdout_eligible is not None
            else np.ones(len(frame), dtype=bool)
        )
        # Under the promotion lock: a champion step compares the holdout version it was scored on.
        with registry.locked(spec.use_case):
            current = store.current()
            if current is None or config.replace:  # (another run may have drawn the first one)
                current, drawn = _freeze_next_holdout(
                    spec, frame, source.id_column, store, registry, eligible, config.reason.strip()
                )
                replaced = current.version > 1
        if drawn:
            context.log.warning(
                f"{spec.use_case} holdout v{current.version} frozen ({current.rows} rows): {current.reason}"
            )
    return current, replaced, drawn


def _holdout_asset(spec: LifecycleSpec) -> AssetsDefinition:
    uc = spec.use_case

    @asset(
        name=f"{uc}_holdout",
        group_name=uc,
        ins={"source": AssetIn(spec.source)},
        kinds={"pandas", "parquet"},
        description="Frozen holdout: drawn once by id hash (a new one only from rows no version trained "
        "on), versioned, never trained on, by id or by content.",
    )
    def holdout(
        context: AssetExecutionContext, config: HoldoutConfig, mlflow_registry: MlflowResource,
        source: LabelledTable,
    ) -> HoldoutTable:  # fmt: skip
        from assets.lifecycle.holdout import HoldoutStore

        store = HoldoutStore(_lifecycle_dir(spec) / "holdout")
        current, replaced, drawn = _current_holdout(context, spec, config, mlflow_registry, store, source)
        context.add_output_metadata(
            {
                "holdout_version": current.version,
                "rows": current.rows,
                "created_at": current.created_at,
                "reason": current.reason,
                "fresh": current.fresh,
                "replaced_now": replaced,
                **drawn,
                "history": MetadataValue.json(store.history()),
            }
        )
        return HoldoutTable(
            str(current.path), source.labels, source.id_column, source.label_column,
            version=current.version, fresh=current.fresh,
        )  # fmt: skip

    return holdout
