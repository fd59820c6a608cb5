"""Gravity Spy's own assets: the glitch table decoded from the landed PNGs (``gravityspy_glitches``),
its data checks, and the report of every trainer against the seed's baseline.

``definitions.py`` declares the use case around them (see its docstring and
``docs/use-cases/gravityspy.md``). Heavy libraries are imported where they are used.
"""

import json
import shutil
import time
from pathlib import Path
from typing import Any

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    Config,
    Failure,
    MetadataValue,
    asset,
)
from pydantic import Field

from assets.gravityspy.layout import USE_CASE, known_classes
from assets.gravityspy.quality import GlitchCheck, glitch_checks
from assets.gravityspy.records import ID_COLUMN
from assets.lifecycle.spec import LabelledTable, LifecycleSpec
from assets.quality.checks import gx_asset_check
from assets.slots import tables_dir as use_case_tables
from orchestration.files import atomic_write_text
from orchestration.settings import get_settings
from resources.object_store import ObjectInfo, ObjectStoreResource
from resources.spark import SparkResource
from sensors.landing import NEW_FILES_TAG

LABEL_COLUMN = "label"
GLITCHES = AssetKey("gravityspy_glitches")


def accept(obj: ObjectInfo) -> bool:
    """Landed PNGs (other files in the landing are not spectrograms)."""
    return obj.key.lower().endswith(".png")


def tables_dir() -> Path:
    return use_case_tables(USE_CASE)


def classes() -> tuple[str, ...]:
    return known_classes(get_settings().gravityspy_classes)


def ingested_keys() -> list[str]:
    """Landing keys the last ingest read (kept or quarantined): the batch sensor's memory for old files."""
    path = tables_dir() / "ingested_keys.json"
    return json.loads(path.read_text()) if path.exists() else []


def _staged(object_store: ObjectStoreResource, keys: list[str]) -> tuple[str, list[str]]:
    """(root, paths): local files with these landed PNGs in the landing's layout: the landed files
    themselves when local, a mirror of just these S3 objects (each downloaded once per version)
    otherwise."""
    if not object_store.is_s3:
        return str(Path(object_store.uri(USE_CASE))), [object_store.uri(k) for k in keys]
    mirror = get_settings().data_dir("staging", USE_CASE)
    shutil.rmtree(mirror, ignore_errors=True)
    paths = []
    for key in keys:
        target = mirror.parent / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(object_store.local_path(key), target)
        paths.append(str(target))
    return str(mirror), paths


def _decode_new(spark: Any, object_store: ObjectStoreResource, landed: dict[str, str]) -> tuple[int, int]:
    """Bring the per-file decoded table up to date with the landing: prune rows of files gone or
    replaced, decode only the files no slot holds at their version. Returns (decoded, dropped)."""
    from assets.gravityspy.decoded import prune, slot_index, slot_name, to_decode
    from assets.gravityspy.ingest import DECODED_COLUMNS, decode_files

    root = tables_dir() / "decoded"
    index = slot_index(root)
    dropped = prune(root, index, landed)
    new = to_decode(index, landed)
    if not new:
        return 0, dropped
    staged_root, paths = _staged(object_store, new)
    decoded = decode_files(spark, staged_root, paths).localCheckpoint()
    got = {r["key"] for r in decoded.select("key").collect()}
    if got != set(new):
        missing, extra = sorted(set(new) - got)[:5], sorted(got - set(new))[:5]
        raise Failure(f"decoded files do not match the landed keys: missing {missing}, unexpected {extra}")
    versions = spark.createDataFrame([(k, landed[k]) for k in new], "key string, version string")
    slot = root / slot_name([(k, landed[k]) for k in new])
    rows = decoded.join(versions, "key").select(*DECODED_COLUMNS, "version")
    rows.write.mode("overwrite").parquet(str(slot))
    return len(new), dropped


def _decoded_rows(spark: Any, landed: dict[str, str]) -> Any:
    """The decoded rows of exactly the landed files at their current version, one per key."""
    from assets.gravityspy.ingest import DECODED_COLUMNS

    live = spark.createDataFrame(list(landed.items()), "key string, version string")
    rows = spark.read.parquet(str(tables_dir() / "decoded")).join(live, ["key", "version"])
    return rows.dropDuplicates(["key"]).select(*DECODED_COLUMNS)


def _class_counts(frame: Any) -> Any:
    counts = frame[LABEL_COLUMN].value_counts().rename_axis("class").reset_index(name="glitches")
    return MetadataValue.md(counts.to_markdown(index=False))


@asset(
    name="gravityspy_glitches",
    group_name=USE_CASE,
    kinds={"spark", "parquet"},
    description="Every landed spectrogram PNG decoded with Spark (binaryFile + mapInPandas): one row per "
    "glitch with its four 64×64 energy grids; unusable files quarantined with reasons.",
)
def gravityspy_glitches(
    context: AssetExecutionContext, spark: SparkResource, object_store: ObjectStoreResource
) -> LabelledTable:
    from assets.gravityspy.ingest import assemble_glitches

    landed = [o for o in object_store.list(f"{USE_CASE}/") if accept(o)]
    if not landed:
        raise Failure(
            f"no spectrogram PNGs under {object_store.uri(USE_CASE)}/: land them as "
            "<Class>/<ifo>_<id>_spectrogram_<duration>.png (or flywheel generate gravityspy)"
        )
    known = classes()
    session = spark.spark_session
    versions = {o.key: o.version for o in landed}
    started = time.monotonic()
    decoded, dropped = _decode_new(session, object_store, versions)
    decode_seconds = time.monotonic() - started
    rows = _decoded_rows(session, versions).localCheckpoint()
    result = assemble_glitches(session, rows, known, uri_of=object_store.uri)
    out = tables_dir()
    glitches = result.glitches.localCheckpoint()
    glitches.write.mode("overwrite").parquet(str(out / "glitches"))
    frame = glitches.toPandas()
    labelled = frame[frame[LABEL_COLUMN].notna()].sort_values(ID_COLUMN, ignore_index=True)
    unlabelled = frame[frame[LABEL_COLUMN].isna()]
    (out / "clean").mkdir(parents=True, exist_ok=True)
    labelled.to_parquet(out / "clean" / "glitches.parquet", index=False)
    unlabelled.to_parquet(out / "clean" / "unlabelled.parquet", index=False)
    quarantined = result.files[result.files["reason"].notna()]
    (out / "quarantine").mkdir(parents=True, exist_ok=True)
    quarantined.to_parquet(out / "quarantine" / "files.parquet", index=False)
    atomic_write_text(out / "ingested_keys.json", json.dumps(sorted(result.files["key"])))
    labels = sorted(labelled[LABEL_COLUMN].unique())
    reasons = quarantined.groupby("reason").size().to_dict()
    context.add_output_metadata(
        {
            **result.counts,
            # Incremental: only new or replaced files are decoded; the rest come from the decoded table.
            "files_decoded": decoded,
            "files_reused": len(landed) - decoded,
            "decoded_rows_dropped": dropped,
            "decode_seconds": round(decode_seconds, 1),
            "ingest_seconds": round(time.monotonic() - started, 1),
            # The platform's summary counts rows; here a row is a landed file.
            "rows_in": result.counts["files_in"],
            "rows_kept": result.counts["files_kept"],
            "rows_quarantined": result.counts["files_quarantined"],
            "labelled_glitches": len(labelled),
            "unlabelled_glitches": len(unlabelled),
            "classes": len(labels),
            "class_counts": _class_counts(labelled) if len(labelled) else "none",
            "quarantine_reasons": MetadataValue.json({k: int(v) for k, v in reasons.items()}),
            "quarantine_sample": MetadataValue.md(
                quarantined[["key", "reason", "detail"]].head(20).to_markdown(index=False)
                if len(quarantined)
                else "none"
            ),
            "new_files_in_batch": context.run.tags.get(NEW_FILES_TAG, "n/a (not started by the sensor)"),
        }
    )
    if len(quarantined):
        context.log.warning(f"{len(quarantined)} of {result.counts['files_in']} files quarantined: {reasons}")
    if len(labels) < 2:
        raise Failure(f"a classifier needs at least two glitch classes in the data; found {labels}")
    return LabelledTable(str(out / "clean" / "glitches.parquet"), tuple(labels), ID_COLUMN, LABEL_COLUMN)


def _expectations(check: GlitchCheck):
    """The class list is read when the check runs (the setting may have changed since loading)."""
    return lambda _table, frame: check.expectations(frame, classes())


data_checks = [
    gx_asset_check(GLITCHES, c.name, c.description, _expectations(c), prepare=c.prepare)
    for c in glitch_checks()
]


class ReportConfig(Config):
    trainers: list[str] = Field(default_factory=list, description="Trainers to report (default: competing).")
    seed: int = 0


def trainer_report_asset(spec: LifecycleSpec) -> Any:
    """``gravityspy_trainer_report``: every trainer of ``spec`` (the seed's baseline included) fitted
    on the training set and scored on the frozen holdout through the model contract."""

    @asset(
        name="gravityspy_trainer_report",
        group_name=USE_CASE,
        ins={"training_set": AssetIn(spec.key("training_set")), "holdout": AssetIn(spec.key("holdout"))},
        kinds={"mlflow"},
        description="Every trainer (the seed's LinearSVC baseline included) fitted on the training set and "
        "scored on the frozen holdout through the model contract: macro F1, ROC AUC (one vs rest), accuracy.",
    )
    def gravityspy_trainer_report(
        context: AssetExecutionContext,
        config: ReportConfig,
        training_set: LabelledTable,
        holdout: LabelledTable,
    ) -> dict[str, Any]:
        import time

        import pandas as pd

        from assets.gravityspy.metrics import holdout_scores
        from assets.gravityspy.model import BASELINE

        available = spec.available_trainers()
        names = config.trainers or list(spec.competing_trainers())
        unknown = [n for n in names if n not in available]
        if unknown:
            raise Failure(f"unknown trainer(s) {unknown}; available: {sorted(available)}")
        train, held = training_set.read(), holdout.read()
        labels = list(training_set.labels)
        records = held[[c for c in spec.record_columns if c in held.columns]]
        rows = []
        for name in names:
            started = time.monotonic()
            model = available[name](train, labels, config.seed)
            fit_seconds = time.monotonic() - started
            predictions = model.predict(None, records)
            scores = holdout_scores(held[LABEL_COLUMN].astype(str), predictions, labels)
            rows.append(
                {
                    "trainer": name,
                    "role": "seed baseline" if name.startswith(BASELINE) else "challenger",
                    **scores,
                    "fit_seconds": round(fit_seconds, 1),
                }
            )
            context.log.info(f"{name}: holdout {scores}")
        table = pd.DataFrame(rows)
        path = get_settings().data_dir("lifecycle", USE_CASE) / "trainer_report.json"
        result = {"holdout_rows": len(held), "training_rows": len(train), "trainers": rows}
        atomic_write_text(path, json.dumps(result, indent=1))
        context.add_output_metadata(
            {
                "holdout_rows": len(held),
                "training_rows": len(train),
                "report": MetadataValue.md(table.to_markdown(index=False, floatfmt=".4f")),
                "report_path": MetadataValue.path(str(path)),
            }
        )
        return result

    return gravityspy_trainer_report
