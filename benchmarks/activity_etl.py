"""Activity clean + features throughput on generated layout-(a) files: Spark local against plain pandas.

Why: the activity ingest runs on Spark so that it can move to a cluster, but on one machine the
question is what that costs or buys compared with the obvious alternative, a pandas script. Both
paths do the same work on the same files and their outputs are compared, so the figures are for
equal results, not for a pandas shortcut that skips validation:

* **clean**: every line is a record that is kept or quarantined with the first reason that applies
  (field count, timestamp, missing motion value, non-numeric value, duplicate stamp), answers are
  copied back up to 300 s to the rows before them (nearest following answer wins);
* **windows**: 100 consecutive rows, split at gaps over 0.15 s, label = the majority over 50 %;
* **features**: :func:`~assets.activity.features.window_features` on every window, written to parquet
  so that the work really happens (Spark is lazy; a count could prune most of it).

Spark runs :func:`~assets.activity.cleaning.clean_raw`, :func:`~assets.activity.cleaning.build_windows`
(the functions the ``activity_file`` asset calls) and the features in ``mapInPandas``. pandas reads each
file in chunks of lines and keeps only what later steps need (stamps, the six window signals and
answers), so memory stays far below the data size. The generated files are clean, so a few hundred
faulty lines per file are appended (``--bad-lines``): without them the quarantine path and the
comparison of its counts would go untested. Rates are raw rows (data lines read) per second, end to
end; the Spark session is started before the clock (JVM start-up is not ETL work).

    python benchmarks/activity_etl.py [--gb 1.0] [--participants 8] [--out DIR] [--reuse]
                                      [--spark-master local[*]] [--bad-lines 500]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from assets.activity.cleaning import REASONS, build_windows, clean_raw  # noqa: E402
from assets.activity.features import FEATURE_NAMES, window_features  # noqa: E402
from assets.activity.layouts import (  # noqa: E402
    HEADER_LINES,
    LABEL_COLUMN,
    MOTION_FIELDS,
    RAW_FIELDS,
    RAW_TYPES,
    SAMPLE_RATE_HZ,
    WINDOW_LOCATION,
    WINDOW_RECORD_COLUMNS,
    WINDOW_SIGNALS,
    WINDOW_STEPS,
    detect_layout,
)

SEED = 0
LABEL_SPAN_SECONDS = 300.0
MAX_GAP_SECONDS = 0.15
#: Lines per pandas chunk: about 40 MB of text, a few hundred MB at the peak of the split.
CHUNK_LINES = 100_000
#: Extra rows per file over the calibrated estimate, so the files are not a few bytes short of the target.
SIZE_MARGIN = 1.01
#: Hours of one participant written to measure bytes per row before the real generation.
CALIBRATION_HOURS = 0.5
_STAMP_PATTERN = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?"  # as cleaning._STAMP
_NUMERIC = [i for i, kind in enumerate(RAW_TYPES) if kind == "f"]
_REQUIRED = frozenset(RAW_FIELDS.index(name) for name in MOTION_FIELDS)
_SIGNAL_INDEX = [RAW_FIELDS.index(name) for name in WINDOW_SIGNALS]
_ANSWER_INDEX = RAW_FIELDS.index("user_activity_label")
_SIGNAL_COLUMNS = [f"{s}_{step}" for step in range(1, WINDOW_STEPS + 1) for s in WINDOW_SIGNALS]


@dataclass
class Figures:
    """What one path did and how long it took; the counts are compared between paths."""

    rows_in: int = 0
    rows_kept: int = 0
    by_reason: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    windows: int = 0
    labelled_windows: int = 0
    seconds: float = 0.0

    @property
    def rows_quarantined(self) -> int:
        return sum(self.by_reason.values())

    @property
    def rows_per_s(self) -> float:
        return self.rows_in / self.seconds if self.seconds else float("nan")

    def counts(self) -> dict[str, int]:
        return {
            "rows_in": self.rows_in,
            "rows_kept": self.rows_kept,
            "rows_quarantined": self.rows_quarantined,
            **{f"quarantined_{r}": n for r, n in self.by_reason.items()},
            "windows": self.windows,
            "labelled_windows": self.labelled_windows,
        }

    def describe(self, name: str) -> str:
        reasons = ", ".join(f"{r} {n:,}" for r, n in self.by_reason.items())
        return (
            f"{name}: rows in {self.rows_in:,}, kept {self.rows_kept:,}, quarantined "
            f"{self.rows_quarantined:,} ({reasons}), windows {self.windows:,} (labelled "
            f"{self.labelled_windows:,}), {self.seconds:.1f} s, {self.rows_per_s:,.0f} rows/s"
        )


# -- data --------------------------------------------------------------------------------------------


def default_out() -> Path:
    """Under ``FLYWHEEL_HOME`` when set (next to the platform's data), else a cache folder in /tmp."""
    home = os.environ.get("FLYWHEEL_HOME")
    base = Path(home) / "bench" if home else Path(tempfile.gettempdir()) / "flywheel-bench"
    return base / "activity_etl"


def _fitted_stats():
    """Window statistics as ``flywheel generate activity`` fits them (real windows, bundled or clean)."""
    from assets.activity.generator import fit_window_stats
    from assets.activity.simulation import reference_windows
    from orchestration.settings import get_settings

    return fit_window_stats(reference_windows(get_settings().home))


def _file_size_model(stats, scratch: Path) -> tuple[float, float]:
    """(bytes per row, fixed bytes per file), measured on a sample file rather than assumed: the row
    length depends on the generated numbers' digits, and the first minutes of a file have no location
    yet (shorter rows), a fixed deficit that would leave small files short of the target."""
    from assets.activity.generator import write_raw_files

    (path,) = write_raw_files(None, 1, CALIBRATION_HOURS, scratch, SEED, stats=stats)
    with path.open("rb") as handle:
        lengths = [len(line) for line in handle]
    shutil.rmtree(scratch)
    rows = lengths[HEADER_LINES["raw"] :]
    tail = rows[len(rows) // 2 :]  # past the first readings: every row has a location
    per_row = sum(tail) / len(tail)
    return per_row, sum(lengths) - per_row * len(rows)


def _bad_lines(lines: list[str], count: int, rng: np.random.Generator) -> tuple[list[str], Counter]:
    """``count`` faulty copies of ``lines``, one reason after another, each failing only that check.

    Copies of real lines keep the stamps inside the data's time range, so a duplicate really collides
    with its original (which comes first in the file and so wins).
    """
    out, expected = [], Counter()
    motion = sorted(_REQUIRED)
    for i, source in enumerate(rng.choice(lines, size=count)):
        reason, variant = REASONS[i % len(REASONS)], (i // len(REASONS)) % 2
        fields = source.split(",")
        if reason == "wrong_field_count":
            line = "" if variant else ",".join([*fields, "1"])
        elif reason == "bad_timestamp":
            fields[0] = "2024-02-30" + fields[0][10:] if variant else fields[0].replace(" ", "T")
            line = ",".join(fields)
        elif reason == "missing_value":
            fields[motion[i % len(motion)]] = ""
            line = ",".join(fields)
        elif reason == "non_numeric":
            fields[motion[i % len(motion)] if variant else _NUMERIC[-1]] = "n/a" if variant else "inf"
            line = ",".join(fields)
        else:
            line = source
        out.append(line)
        expected[reason] += 1
    return out, expected


def _append_bad_lines(path: Path, count: int, seed: int) -> Counter:
    with path.open("r", encoding="utf-8") as handle:
        head = list(itertools.islice(handle, HEADER_LINES["raw"] + 5 * count))[HEADER_LINES["raw"] :]
    lines, expected = _bad_lines([line.rstrip("\n") for line in head], count, np.random.default_rng(seed))
    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(f"{line}\n" for line in lines))
    return expected


def prepare_data(spark, out: Path, gb: float, participants: int, bad_lines: int) -> tuple[list[Path], dict]:
    """At least ``gb`` (10^9 bytes) of layout-(a) files in ``out/raw``, reused when a manifest of the
    same settings lists files of the sizes on disk (a partial or foreign folder is regenerated)."""
    raw_dir, manifest_path = out / "raw", out / "manifest.json"
    settings = {"gb": gb, "participants": participants, "bad_lines": bad_lines, "seed": SEED}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        files = [raw_dir / name for name in manifest.get("sizes", {})]
        if manifest.get("settings") == settings and all(
            p.exists() and p.stat().st_size == manifest["sizes"][p.name] for p in files
        ):
            return files, {**manifest, "reused": True}
    shutil.rmtree(raw_dir, ignore_errors=True)
    manifest_path.unlink(missing_ok=True)
    from assets.activity.generator import write_raw_files

    started = time.perf_counter()
    stats = _fitted_stats()
    per_row, per_file = _file_size_model(stats, out / "calibration")
    rows = math.ceil((gb * 1e9 / participants - per_file) / per_row * SIZE_MARGIN)
    # Spark writes participants in parallel tasks, which needs a folder the executors share.
    writer = spark if spark.sparkContext.master.startswith("local") else None
    paths = write_raw_files(writer, participants, rows / 3600 / SAMPLE_RATE_HZ, raw_dir, SEED, stats=stats)
    injected: Counter = Counter()
    for i, path in enumerate(paths):
        injected.update(_append_bad_lines(path, bad_lines, SEED + i) if bad_lines else {})
    manifest = {
        "settings": settings,
        "sizes": {p.name: p.stat().st_size for p in paths},
        "rows": participants * rows + participants * bad_lines,
        "injected": dict(injected),
        "seconds": time.perf_counter() - started,
    }
    if sum(manifest["sizes"].values()) < gb * 1e9:
        raise RuntimeError(f"generated {sum(manifest['sizes'].values()):,} bytes, short of {gb} GB")
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return paths, {**manifest, "reused": False}


# -- Spark ---------------------------------------------------------------------------------------------


def _spark_features(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``mapInPandas`` body: the keys and label of each window, then its features (the same function
    the pandas path and the served model call)."""
    for batch in batches:
        keys = batch[["participant", "stamp", LABEL_COLUMN]]
        yield pd.concat([keys, window_features(batch)], axis=1)


def run_spark(spark, paths: list[Path], out: Path) -> Figures:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    schema = T.StructType(
        [
            T.StructField("participant", T.StringType()),
            T.StructField("stamp", T.TimestampNTZType()),
            T.StructField(LABEL_COLUMN, T.StringType()),
            *(T.StructField(name, T.DoubleType()) for name in FEATURE_NAMES),
        ]
    )
    started = time.perf_counter()
    result = clean_raw(spark, [str(p) for p in paths], LABEL_SPAN_SECONDS)
    windows = build_windows(result.kept, MAX_GAP_SECONDS, keep_participant=True)
    # Only what the features read crosses to Python: the null location columns would be dead weight.
    keys = ["participant", "stamp", LABEL_COLUMN, *_SIGNAL_COLUMNS]
    features = windows.select(*keys).mapInPandas(_spark_features, schema)
    features.write.mode("overwrite").parquet(str(out / "features"))
    result.quarantine.write.mode("overwrite").parquet(str(out / "quarantine"))
    seconds = time.perf_counter() - started
    written = spark.read.parquet(str(out / "features"))
    labelled = written.agg(F.count("*").alias("n"), F.count(LABEL_COLUMN).alias("labelled")).first()
    counts = result.counts
    return Figures(
        rows_in=counts["rows_in"],
        rows_kept=counts["rows_kept"],
        by_reason={r: counts[f"quarantined_{r}"] for r in REASONS},
        windows=labelled["n"],
        labelled_windows=labelled["labelled"],
        seconds=seconds,
    )


# -- pandas --------------------------------------------------------------------------------------------


def _split(raw: pd.Series) -> pd.DataFrame:
    """Fields of each line (``None`` past a line's last field); csv only for the rare quoted lines."""
    fields = raw.str.split(",", expand=True)
    fields = fields.reindex(columns=range(max(len(RAW_FIELDS), fields.shape[1])))
    quoted = raw.str.contains('"', regex=False)
    if quoted.any():
        parsed = pd.DataFrame(list(csv.reader(raw[quoted].tolist())), index=raw.index[quoted])
        fields = fields.reindex(columns=range(max(fields.shape[1], parsed.shape[1])))
        fields.loc[quoted] = parsed.reindex(columns=fields.columns).to_numpy()
    return fields


def _classify(raw: pd.Series, source: str, first_line: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One chunk → (valid rows: line, stamp, the six signals, answer; quarantined lines), with the
    cleaning's rules in its order, so that a line gets the same reason as on Spark."""
    fields = _split(raw)
    n = len(raw)
    wrong = fields[len(RAW_FIELDS) - 1].isna().to_numpy()
    if fields.shape[1] > len(RAW_FIELDS):
        wrong |= fields[len(RAW_FIELDS)].notna().to_numpy()
    text = fields[0].str.strip()
    stamp = pd.to_datetime(
        text.where(text.str.fullmatch(_STAMP_PATTERN).fillna(False).astype(bool)),
        format="ISO8601",
        errors="coerce",
    )
    missing, non_numeric = np.zeros(n, bool), np.zeros(n, bool)
    signals = {}
    for i in _NUMERIC:
        values = pd.to_numeric(fields[i], errors="coerce").to_numpy(dtype=float)
        unparsed = np.isnan(values)
        if unparsed.any():
            empty = unparsed & (fields[i] == "").to_numpy()
            non_numeric |= unparsed & ~empty & fields[i].notna().to_numpy()
            if i in _REQUIRED:
                missing |= empty
        non_numeric |= np.isinf(values)
        if i in _SIGNAL_INDEX:
            signals[RAW_FIELDS[i]] = values
    reason = np.select([wrong, stamp.isna().to_numpy(), missing, non_numeric], list(REASONS[:4]), default="")
    valid = reason == ""
    lines = np.arange(first_line, first_line + n)
    answer = fields[_ANSWER_INDEX].str.strip()
    answer = answer.mask(answer == "", None)
    kept = pd.DataFrame(
        {
            "line": lines[valid],
            "stamp": stamp.to_numpy()[valid],
            **{name: values[valid] for name, values in signals.items()},
            "answer": answer.to_numpy()[valid],
        }
    )
    bad = pd.DataFrame(
        {
            "source_file": source,
            "line": lines[~valid],
            "reason": reason[~valid],
            "raw": raw.to_numpy()[~valid],
        }
    )
    return kept, bad


def _chunks(path: Path) -> Iterator[tuple[pd.Series, int]]:
    """(lines, line number of the first) after checking the header, as Spark's cleaning does."""
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        head = list(itertools.islice(handle, HEADER_LINES["raw"]))
        if detect_layout(head) != "raw":
            raise ValueError(f"not in the 'raw' layout: {path}")
        line = len(head) + 1
        while chunk := list(itertools.islice(handle, CHUNK_LINES)):
            yield pd.Series([s.rstrip("\n") for s in chunk], dtype=object), line
            line += len(chunk)


def _label(rows: pd.DataFrame) -> np.ndarray:
    """Each row's nearest answer at or after it, if at most the label span later (rows by stamp)."""
    n = len(rows)
    has = rows["answer"].notna().to_numpy()
    following = np.minimum.accumulate(np.where(has, np.arange(n), n)[::-1])[::-1]
    stamps = rows["stamp"].to_numpy().astype("datetime64[us]").astype(np.int64)
    found = following < n
    target = np.where(found, following, 0)
    close = found & (stamps[target] - stamps <= int(LABEL_SPAN_SECONDS * 1e6))
    return np.where(close, rows["answer"].to_numpy()[target], None)


def _windows(rows: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Layout-(b) windows of ``build_windows``: runs split at gaps, full windows from each run's start."""
    n = len(rows)
    stamps = rows["stamp"].to_numpy().astype("datetime64[us]").astype(np.int64)
    starts = np.r_[True, np.diff(stamps) > int(MAX_GAP_SECONDS * 1e6)] if n else np.zeros(0, bool)
    run = np.cumsum(starts) - 1
    run_first = np.flatnonzero(starts)
    position = np.arange(n) - run_first[run]
    run_length = np.diff(np.r_[run_first, n])[run]
    first = np.flatnonzero((position % WINDOW_STEPS == 0) & (position + WINDOW_STEPS <= run_length))
    steps = first[:, None] + np.arange(WINDOW_STEPS)
    codes, classes = pd.factorize(pd.Series(labels, dtype=object))
    votes = codes[steps]
    # A label held by more than half of the steps always sits in the middle of the sorted votes.
    middle = np.sort(votes, axis=1)[:, WINDOW_STEPS // 2] if len(first) else np.zeros(0, int)
    majority = (votes == middle[:, None]).sum(axis=1) * 2 > WINDOW_STEPS
    label = np.where(majority & (middle >= 0), np.asarray(classes, dtype=object)[np.maximum(middle, 0)], None)
    values = np.full((len(first), WINDOW_STEPS, len(WINDOW_SIGNALS) + len(WINDOW_LOCATION)), np.nan)
    values[:, :, : len(WINDOW_SIGNALS)] = rows[list(WINDOW_SIGNALS)].to_numpy()[steps]
    frame = pd.DataFrame(values.reshape(len(first), -1), columns=list(WINDOW_RECORD_COLUMNS[1:]))
    frame.insert(0, "stamp", rows["stamp"].to_numpy()[first])
    frame[LABEL_COLUMN] = label
    return frame


def run_pandas(paths: list[Path], out: Path) -> Figures:
    figures = Figures()
    features_dir = out / "features"
    features_dir.mkdir(parents=True)
    quarantine: list[pd.DataFrame] = []
    started = time.perf_counter()
    by_participant: dict[str, list[Path]] = {}
    for path in sorted(paths, key=str):  # Spark's order for "the first line wins" among files
        by_participant.setdefault(path.stem, []).append(path)
    for participant, files in by_participant.items():
        kept, seen = [], np.zeros(0, dtype="datetime64[ns]")
        for path in files:
            for raw, first_line in _chunks(path):
                figures.rows_in += len(raw)
                rows, bad = _classify(raw, str(path), first_line)
                # Duplicates among valid rows, checked as chunks arrive: the first line seen wins.
                stamps = rows["stamp"].to_numpy()
                repeated = pd.Series(stamps).duplicated().to_numpy() | np.isin(stamps, seen)
                if repeated.any():
                    duplicate = raw.to_numpy()[rows["line"].to_numpy()[repeated] - first_line]
                    quarantine_rows = rows.loc[repeated, ["line"]].assign(
                        source_file=str(path), reason="duplicate_stamp", raw=duplicate
                    )
                    bad = pd.concat([bad, quarantine_rows[list(bad.columns)]], ignore_index=True)
                    rows = rows[~repeated]
                seen = np.union1d(seen, rows["stamp"].to_numpy())
                kept.append(rows.drop(columns="line"))
                quarantine.append(bad)
        if not kept:  # a header-only file: no rows, no windows
            continue
        rows = pd.concat(kept, ignore_index=True).sort_values("stamp", kind="stable", ignore_index=True)
        figures.rows_kept += len(rows)
        windows = _windows(rows, _label(rows))
        features = pd.concat([windows[["stamp", LABEL_COLUMN]], window_features(windows)], axis=1).assign(
            participant=participant
        )
        features.to_parquet(features_dir / f"{participant}.parquet", index=False)
        figures.windows += len(windows)
        figures.labelled_windows += int(windows[LABEL_COLUMN].notna().sum())
    bad = pd.concat(quarantine, ignore_index=True)
    bad.to_parquet(out / "quarantine.parquet", index=False)
    figures.seconds = time.perf_counter() - started
    figures.by_reason.update(bad["reason"].value_counts().to_dict())
    return figures


# -- comparison ----------------------------------------------------------------------------------------


def compare_features(spark_dir: Path, pandas_dir: Path) -> str:
    """Window by window (participant, stamp): same label, and the largest feature difference."""
    columns = ["participant", "stamp", LABEL_COLUMN, *FEATURE_NAMES]
    left = pd.read_parquet(spark_dir, columns=columns)
    right = pd.read_parquet(pandas_dir, columns=columns)
    for frame in (left, right):
        frame["stamp"] = frame["stamp"].astype("datetime64[us]")
    both = left.merge(right, on=["participant", "stamp"], suffixes=("_spark", "_pandas"))
    same_label = (both[f"{LABEL_COLUMN}_spark"].fillna("") == both[f"{LABEL_COLUMN}_pandas"].fillna("")).all()
    spark_values = both[[f"{n}_spark" for n in FEATURE_NAMES]].to_numpy(dtype=float)
    pandas_values = both[[f"{n}_pandas" for n in FEATURE_NAMES]].to_numpy(dtype=float)
    same_nan = (np.isnan(spark_values) == np.isnan(pandas_values)).all()
    difference = np.nanmax(np.abs(spark_values - pandas_values)) if len(both) else 0.0
    return (
        f"features: {len(both):,} windows in both of {len(left):,} (spark) and {len(right):,} (pandas); "
        f"labels {'equal' if same_label else 'DIFFER'}; NaN {'equal' if same_nan else 'DIFFER'}; "
        f"max abs difference {difference:.3g}"
    )


def compare_counts(spark: Figures, pandas: Figures, tolerance: float = 1e-4) -> str:
    """``yes`` when equal, ``within`` a relative ``tolerance``, else the differing counts."""
    a, b = spark.counts(), pandas.counts()
    differ = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    if not differ:
        return "counts match: yes (all equal)"
    worst = max(abs(x - y) / max(abs(x), abs(y), 1) for x, y in differ.values())
    verdict = "yes (within tolerance)" if worst <= tolerance else "NO"
    return f"counts match: {verdict}; spark vs pandas: {differ}"


def _peak_rss_mb() -> float:
    """The driver's peak memory: the pandas path runs here, so its growth bounds what pandas held."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="data size, 10^9 bytes (default 1.0)")
    parser.add_argument("--participants", type=int, default=8, help="files (default 8)")
    parser.add_argument(
        "--out", type=Path, default=default_out(), help=f"work folder (default {default_out()})"
    )
    parser.add_argument("--reuse", action="store_true", help="keep the generated files for the next run")
    parser.add_argument("--spark-master", default="local[*]", help="Spark master (default local[*])")
    parser.add_argument(
        "--bad-lines", type=int, default=500, help="faulty lines appended per file (default 500)"
    )
    args = parser.parse_args()
    from resources.spark import SparkResource

    begun = time.perf_counter()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.spark_master.startswith("local"):
        # Python workers must run this interpreter (the venv). SparkResource sets spark.pyspark.python,
        # but a session started in-process (not by spark-submit) takes the workers' interpreter from
        # PYSPARK_PYTHON only, else ``python3`` on PATH, which lacks numpy when the venv is not active.
        os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = SparkResource(master=args.spark_master, app_name="activity-etl-bench").spark_session
    print(
        f"spark {spark.version} {spark.sparkContext.master} ({spark.sparkContext.defaultParallelism} "
        f"cores), workers' python {spark.sparkContext.pythonExec} (spark.pyspark.python="
        f"{spark.conf.get('spark.pyspark.python', None)}); "
        f"session started in {time.perf_counter() - begun:.1f} s"
    )
    try:
        paths, manifest = prepare_data(spark, out, args.gb, args.participants, args.bad_lines)
        size = sum(p.stat().st_size for p in paths)
        how = "reused" if manifest["reused"] else f"generated in {manifest['seconds']:.0f} s"
        print(
            f"data: {len(paths)} layout-(a) files in {out / 'raw'}, {size / 1e9:.3f} GB ({size:,} bytes), "
            f"{manifest['rows']:,} rows incl. {sum(manifest['injected'].values()):,} faulty lines "
            f"{manifest['injected']}; {how}"
        )
        for name in ("spark", "pandas"):
            shutil.rmtree(out / name, ignore_errors=True)
        spark_figures = run_spark(spark, paths, out / "spark")
        print(spark_figures.describe(f"spark ({args.spark_master})"))
        before = _peak_rss_mb()
        pandas_figures = run_pandas(paths, out / "pandas")
        print(
            f"{pandas_figures.describe('pandas (one process)')}; "
            f"peak RSS of this process {before:,.0f} MB before, {_peak_rss_mb():,.0f} MB after"
        )
        print(compare_counts(spark_figures, pandas_figures))
        print(compare_features(out / "spark" / "features", out / "pandas" / "features"))
    finally:
        spark.stop()
        for name in ("spark", "pandas", "calibration"):
            shutil.rmtree(out / name, ignore_errors=True)
        if not args.reuse:
            shutil.rmtree(out / "raw", ignore_errors=True)
            (out / "manifest.json").unlink(missing_ok=True)
    x, y = spark_figures.rows_per_s, pandas_figures.rows_per_s
    print(f"total run {time.perf_counter() - begun:.0f} s")
    print(f"spark_rows_per_s={x:.0f} pandas_rows_per_s={y:.0f} speedup={x / y:.2f} gb={size / 1e9:.3f}")


if __name__ == "__main__":
    main()
