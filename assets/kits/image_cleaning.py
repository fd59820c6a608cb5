"""Spark cleaning of the image landing format the image kit shares.

Landing format: image files (``.png``, ``.jpg``, ``.jpeg``) under ``<landing>/<uc>/<class>/``, one
folder per class; images under ``<landing>/<uc>/unlabelled/`` (or directly under
``<landing>/<uc>/``) are not labelled yet. A record's id is the file's name without the extension
(``cat/001.png`` is ``001``), so an image moved from ``unlabelled/`` to its class keeps its id; the
same name in two class folders is a ``duplicate_id``: name images uniquely across classes. Spark
reads them with ``binaryFile``; each is decoded in ``mapInPandas`` with the same code the served
model uses (:mod:`assets.trainers.image_pixels`).

Every file read ends in exactly one of ``kept`` or ``quarantine`` (``rows_in = rows_kept +
rows_quarantined``), a quarantined file with its path (``raw``) and the first reason:

``not_an_image``   Pillow cannot read it (truncated, another format, not an image);
``too_large``      it declares more than 40 million pixels (a decompression bomb);
``unknown_label``  its class folder is outside the declared label set (``labels`` given);
``duplicate_id``   a file of the same stem already kept (the first by path wins).

Kept rows: ``id``, ``image`` (the file's bytes as base64, exactly as a record carries them), ``label``
(null when unlabelled), ``content_key`` (the decoded grid's hash) and ``source_file`` (the landing key).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from assets.kits.cleaning import CleanResult, spark_path, split_rows

REASONS: tuple[str, ...] = ("not_an_image", "too_large", "unknown_label", "duplicate_id")
UNLABELLED = "unlabelled"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_DECODED = T.StructType(
    [
        T.StructField("path", T.StringType()),
        T.StructField("image", T.StringType()),
        T.StructField("content_key", T.StringType()),
        T.StructField("_decode", T.StringType()),
    ]
)


def _decode(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    from assets.trainers.image_pixels import ImageError, content_hash, encode, grid

    for batch in batches:
        images, contents, reasons = [], [], []
        for data in batch["content"]:
            try:
                contents.append(content_hash(grid(bytes(data))))
                images.append(encode(bytes(data)))
                reasons.append(None)
            except ImageError as exc:
                images.append(None)
                contents.append(None)
                reasons.append(exc.reason)
        yield pd.DataFrame(
            {"path": batch["path"], "image": images, "content_key": contents, "_decode": reasons}
        )


def clean_image_files(
    spark: SparkSession, files: Sequence[tuple[str, str]], labels: Sequence[str] | None = None
) -> CleanResult:
    """``files``: (landing key, local path) pairs. Kept images and quarantined files with reasons."""
    read = spark.read.format("binaryFile").load([path for _, path in files]).select("path", "content")
    decoded = read.mapInPandas(_decode, _DECODED)
    # binaryFile names a file by its URI: back to the landing key (the class is the key's folder)
    pairs = [(spark_path(path, encoded=False), key) for key, path in files]
    mapping = spark.createDataFrame(pairs, "path string, key string")
    rows = decoded.join(mapping, "path", "left").withColumn("source_file", F.col("key")).localCheckpoint()
    unmatched = [r["path"] for r in rows.where(F.col("key").isNull()).select("path").limit(5).collect()]
    if unmatched:
        raise ValueError(f"files read that match no landing key (nothing was cleaned): {unmatched}")
    parts = F.split(F.col("source_file"), "/")
    folder = F.element_at(parts, -2)
    stem = F.regexp_replace(F.element_at(parts, -1), r"\.[^.]+$", "")
    rows = rows.withColumns(
        {
            "_id": stem,
            # <uc>/<class>/<file>: the class; <uc>/<file> and <uc>/unlabelled/<file>: not labelled yet
            "_label": F.when((F.size(parts) >= 3) & (folder != UNLABELLED), folder),
            "_pos": F.monotonically_increasing_id(),
        }
    ).withColumn("_corrupt_record", F.lit(None).cast("string"))
    unknown = F.lit(False)
    if labels:
        unknown = F.col("_label").isNotNull() & ~F.array_contains(
            F.array(*map(F.lit, labels)), F.col("_label")
        )
    reason = F.when(F.col("_decode").isNotNull(), F.col("_decode")).when(unknown, "unknown_label")
    kept = [F.col("_id").alias("id"), "image", F.col("_label").alias("label"), "content_key"]
    return split_rows(
        rows.withColumn("path", F.col("source_file")), reason, kept, ("path",), "label", REASONS
    )


def is_image(key: str) -> bool:
    return PurePosixPath(key.lower()).suffix in IMAGE_SUFFIXES
