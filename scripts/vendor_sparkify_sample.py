"""Vendor the real eventsim development log into ``data/sparkify/log_data/`` for the demo, gzipped.

Every line, unchanged, in the daily files it came from, each gzipped
(``log_data/YYYY/MM/YYYY-MM-DD-events.json.gz``: 29 MB of JSON lines are 2.2 MB so). The whole
development half is what lets the gate judge honestly: 70 users gave 12 churn rows in the holdout,
504 give over 200. With ``--churned``/``--stayed`` only the lines of that many cancelling and
staying users (drawn by a salted hash; a user is all in or all out) are kept. Reproducible: the same
source and arguments give the same bytes (gzip without a timestamp).

    python scripts/vendor_sparkify_sample.py ../shared/data/sparkify_eventsim
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "data" / "sparkify" / "log_data"


def _rank(user: str) -> str:
    return hashlib.sha1(f"flywheel-demo:{user}".encode()).hexdigest()


def choose_users(labels: Path, churned: int, stayed: int) -> set[str]:
    """``churned`` cancelling and ``stayed`` other users of ``churn_labels.csv``, by a salted hash."""
    with labels.open() as handle:
        rows = list(csv.DictReader(handle))
    gone = sorted((r["userId"] for r in rows if r["churned"] == "1"), key=_rank)
    kept = sorted((r["userId"] for r in rows if r["churned"] != "1"), key=_rank)
    return set(gone[:churned]) | set(kept[:stayed])


def vendor(source: Path, churned: int | None = None, stayed: int | None = None) -> tuple[int, int]:
    """Write the sample (every line unless ``churned``/``stayed`` pick users); (files, lines)."""
    picked = churned is not None or stayed is not None
    users = choose_users(source / "churn_labels.csv", churned or 0, stayed or 0) if picked else None
    files = lines = 0
    for path in sorted((source / "log_data").glob("**/*.json")):
        chosen = [
            line
            for line in path.read_text().splitlines(keepends=True)
            if line.strip() and (users is None or str(json.loads(line).get("userId")) in users)
        ]
        if not chosen:
            continue
        target = OUT / path.relative_to(source / "log_data").with_suffix(".json.gz")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(gzip.compress("".join(chosen).encode(), compresslevel=9, mtime=0))
        files, lines = files + 1, lines + len(chosen)
    return files, lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--churned", type=int, help="only this many cancelling users")
    parser.add_argument("--stayed", type=int, help="only this many staying users")
    args = parser.parse_args()
    written = vendor(args.source, args.churned, args.stayed)
    print(f"{written[0]} files, {written[1]} lines in {OUT}")
