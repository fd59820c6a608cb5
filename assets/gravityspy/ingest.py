"""Spark ingest of landed Gravity Spy PNGs: ``binaryFile`` → decode in ``mapInPandas`` → one row per glitch.

No Dagster here (the asset wires it; the benchmark calls it directly). Every PNG under the root is read
as bytes by Spark's ``binaryFile`` source, decoded on the executors with Pillow
(:mod:`assets.gravityspy.images`: crop, viridis inversion, 64×64 grid), and reported with its reason
when it cannot be. The per-file outcomes (small: no pixels) go to the driver, where
:func:`assets.gravityspy.layout.assemble` decides which glitches are whole; the kept files' grids are
then pivoted in Spark into one row per glitch: ``id, ifo, label, energy_<view> ×4,
spectrogram_<view>_uri ×4, content_hash``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from assets.gravityspy.images import VIEWS, try_decode, view_hash
from assets.gravityspy.layout import USE_CASE, assemble, counts, parse_key
from assets.gravityspy.records import CONTENT_HASH, ENERGY_COLUMNS, ID_COLUMN, IFO_COLUMN, URI_COLUMNS

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

LABEL_COLUMN = "label"
DECODED_COLUMNS = ["path", "key", "length", "reason", "detail", "energy", "view_hash"]
DECODED_SCHEMA = (
    "path string, key string, length long, reason string, detail string, "
    "energy array<float>, view_hash string"
)
#: Files per Arrow batch handed to the decoder: a PNG is ~150 KB, Spark's default of 10,000 is 1.5 GB.
ARROW_BATCH_FILES = 32
#: Bytes of PNGs per input split: enough splits for every core even for a few hundred files.
SPLIT_BYTES = 4 << 20


@dataclass
class IngestResult:
    glitches: DataFrame  # one row per kept glitch (labelled and unlabelled)
    files: pd.DataFrame  # every file: key, folder, ifo, id, view, label, reason, detail
    counts: dict[str, int]


def _decoder(root: str) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    prefix = root.rstrip("/") + "/"

    def decode(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd

        for batch in batches:
            rows = []
            for path, length, content in zip(batch["path"], batch["length"], batch["content"], strict=True):
                local = unquote(str(path).removeprefix("file://").removeprefix("file:"))
                relative = local[len(prefix) :] if local.startswith(prefix) else local.rsplit("/", 2)[-2:]
                key = f"{USE_CASE}/{relative if isinstance(relative, str) else '/'.join(relative)}"
                outcome = try_decode(content)
                grid = outcome.grid
                rows.append(
                    {
                        "path": path,
                        "key": key,
                        "length": int(length),
                        "reason": outcome.reason,
                        "detail": outcome.detail or None,
                        "energy": grid,
                        "view_hash": view_hash(grid) if grid is not None else None,
                    }
                )
            yield pd.DataFrame(rows, columns=DECODED_COLUMNS)

    return decode


def read_pngs(spark: SparkSession, root: str, paths: list[str] | None = None) -> DataFrame:
    """``*.png`` files as ``path, modificationTime, length, content``: every one under ``root``
    (recursively), or only ``paths`` (files under ``root``) when given."""
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(SPLIT_BYTES))
    spark.conf.set("spark.sql.files.openCostInBytes", str(64 << 10))
    reader = spark.read.format("binaryFile").option("pathGlobFilter", "*.png")
    if paths is not None:
        return reader.load(paths)
    return reader.option("recursiveFileLookup", "true").load(root)


def decode_files(spark: SparkSession, root: str, paths: list[str] | None = None) -> DataFrame:
    """Each PNG (all under ``root``, or only ``paths``) decoded on the executors: its key under the
    landing, reason (None: decoded), grid."""
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH_FILES))
    files = read_pngs(spark, root, paths).select("path", "length", "content")
    return files.mapInPandas(_decoder(root), DECODED_SCHEMA)


def file_table(outcomes: pd.DataFrame, classes: tuple[str, ...]) -> pd.DataFrame:
    """Per-file outcomes (``key, reason, detail``) → every file with its final reason and label."""
    import pandas as pd

    parsed = pd.DataFrame([parse_key(k) for k in outcomes["key"]], index=outcomes.index)
    files = pd.concat([outcomes[["key", "reason"]], parsed], axis=1)
    assembled = assemble(files, classes)
    assembled["detail"] = outcomes["detail"].where(assembled["reason"] == outcomes["reason"])
    return assembled


def ingest(
    spark: SparkSession, root: str, classes: tuple[str, ...], uri_of: Callable[[str], str] = lambda k: k
) -> IngestResult:
    """Decode every PNG under ``root`` and build the glitch rows (``uri_of``: a landing key → the URI
    records and the holdout use for that file)."""
    return assemble_glitches(spark, decode_files(spark, root).localCheckpoint(), classes, uri_of)


def assemble_glitches(
    spark: SparkSession,
    decoded: DataFrame,
    classes: tuple[str, ...],
    uri_of: Callable[[str], str] = lambda k: k,
) -> IngestResult:
    """Decoded files (:data:`DECODED_COLUMNS`, one row per landed file; freshly decoded or read back
    from the per-file table) → the glitch rows: which glitches are whole is decided on the driver
    from the small per-file outcomes, the grids are pivoted in Spark."""
    from pyspark.sql import functions as F

    outcomes = decoded.select("key", "reason", "detail").toPandas()
    files = file_table(outcomes, classes)
    summary = counts(files)
    kept = files[files["reason"].isna()]
    keyinfo = kept[["key", "ifo", "id", "view", "label"]].assign(uri=[uri_of(k) for k in kept["key"]])
    schema = "key string, ifo string, id string, view string, label string, uri string"
    info = spark.createDataFrame(keyinfo.astype(object).where(keyinfo.notna(), None), schema)
    joined = decoded.select("key", "energy", "view_hash").join(info, "key")

    def pick(column: str, view: str) -> Any:
        return F.first(F.when(F.col("view") == view, F.col(column)), ignorenulls=True)

    aggregates = [pick("energy", v).alias(c) for v, c in zip(VIEWS, ENERGY_COLUMNS, strict=True)]
    aggregates += [pick("uri", v).alias(c) for v, c in zip(VIEWS, URI_COLUMNS, strict=True)]
    aggregates += [pick("view_hash", v).alias(f"_hash_{i}") for i, v in enumerate(VIEWS)]
    glitches = joined.groupBy(ID_COLUMN, IFO_COLUMN, LABEL_COLUMN).agg(*aggregates)
    hashes = F.concat_ws("|", *[F.col(f"_hash_{i}") for i in range(len(VIEWS))])
    glitches = glitches.withColumn(CONTENT_HASH, F.substring(F.sha1(hashes), 1, 16)).drop(
        *[f"_hash_{i}" for i in range(len(VIEWS))]
    )
    return IngestResult(glitches, files, summary)
