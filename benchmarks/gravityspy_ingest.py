"""Gravity Spy ingest throughput: images per second through the Spark ingest against a plain Pillow loop.

Why: the ingest reads PNGs with Spark's ``binaryFile`` source and decodes them in ``mapInPandas`` so it
can move to a cluster; on one machine the question is what that costs or buys against the obvious
alternative, one Python process decoding file after file. Both paths do the same work on the same
generated glitches (4 PNGs each, :mod:`assets.gravityspy.generator`): crop, viridis inversion, 64×64
grid. Spark runs :func:`assets.gravityspy.ingest.ingest` (the function the ``gravityspy_glitches``
asset calls: decode, glitch assembly, one row per glitch) and writes the glitch table to parquet, so
the work really happens; the Pillow loop runs :func:`assets.gravityspy.images.try_decode` per file and
keeps the grids. Their outputs are compared (same files kept, same grids). The Spark session is started
before the clock (JVM start-up is not ingest work); generating the PNGs is not timed.

    python benchmarks/gravityspy_ingest.py [--glitches 1000 10000] [--out DIR] [--reuse]
                                           [--spark-master local[*]]

The last line is ``spark_images_per_s=… pillow_images_per_s=… ratio=…`` for the largest size.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assets.gravityspy.generator import DEFAULT_CLASSES, write_glitches  # noqa: E402
from assets.gravityspy.images import try_decode  # noqa: E402
from assets.gravityspy.ingest import ingest  # noqa: E402
from assets.gravityspy.layout import GRAVITYSPY_CLASSES  # noqa: E402


def generate(folder: Path, glitches: int, reuse: bool) -> list[Path]:
    if reuse and folder.exists():
        paths = sorted(folder.rglob("*.png"))
        if len(paths) == 4 * glitches:
            return paths
    shutil.rmtree(folder, ignore_errors=True)
    started = time.monotonic()
    paths = write_glitches(folder / "gravityspy", glitches, DEFAULT_CLASSES, seed=glitches)
    seconds = time.monotonic() - started
    print(f"generated {glitches} glitches ({len(paths)} PNGs) in {seconds:.1f}s", flush=True)
    return sorted(paths)


def pillow_loop(paths: list[Path]) -> tuple[float, dict[str, np.ndarray]]:
    started = time.monotonic()
    grids = {}
    for path in paths:
        outcome = try_decode(path.read_bytes())
        if outcome.grid is not None:
            grids[f"{path.parent.name}/{path.name}"] = outcome.grid
    return time.monotonic() - started, grids


def spark_ingest(spark, root: Path, out: Path) -> tuple[float, int, dict[str, np.ndarray]]:
    started = time.monotonic()
    result = ingest(spark, str(root / "gravityspy"), GRAVITYSPY_CLASSES, uri_of=lambda k: k)
    result.glitches.write.mode("overwrite").parquet(str(out))
    seconds = time.monotonic() - started
    sample = result.glitches.limit(5).toPandas()
    grids = {}
    for _, row in sample.iterrows():
        for view in ("0.5", "1.0", "2.0", "4.0"):
            key = row[f"spectrogram_{view}_uri"].removeprefix("gravityspy/")
            grids[key] = np.asarray(row[f"energy_{view}"], dtype=np.float32)
    return seconds, result.counts["files_kept"], grids


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--glitches", type=int, nargs="+", default=[1000, 10000], help="sizes to run")
    parser.add_argument("--out", type=Path, default=None, help="folder for generated PNGs (default: temp)")
    parser.add_argument("--reuse", action="store_true", help="reuse PNGs already generated in --out")
    parser.add_argument("--spark-master", default="local[*]")
    args = parser.parse_args()

    from resources.spark import SparkResource

    spark = SparkResource(master=args.spark_master, app_name="gravityspy-bench").spark_session
    spark.sparkContext.setLogLevel("ERROR")
    base = args.out or Path(tempfile.mkdtemp(prefix="gravityspy-bench-"))
    line = ""
    try:
        for glitches in sorted(args.glitches):
            folder = base / f"g{glitches}"
            paths = generate(folder, glitches, args.reuse)
            spark_s, kept, spark_grids = spark_ingest(spark, folder, base / f"table-{glitches}")
            pillow_s, pillow_grids = pillow_loop(paths)
            if kept != len(pillow_grids):
                raise SystemExit(f"Spark kept {kept} files, the Pillow loop decoded {len(pillow_grids)}")
            for key, grid in spark_grids.items():
                if not np.array_equal(grid, pillow_grids[key].reshape(-1)):
                    raise SystemExit(f"grids differ for {key}")
            images = len(paths)
            spark_rate, pillow_rate = images / spark_s, images / pillow_s
            print(
                f"glitches={glitches} images={images} spark_s={spark_s:.1f} pillow_s={pillow_s:.1f} "
                f"master={args.spark_master}",
                flush=True,
            )
            line = (
                f"spark_images_per_s={spark_rate:.1f} pillow_images_per_s={pillow_rate:.1f} "
                f"ratio={spark_rate / pillow_rate:.2f}"
            )
    finally:
        spark.stop()
        if args.out is None:
            shutil.rmtree(base, ignore_errors=True)
    print(line)


if __name__ == "__main__":
    main()
