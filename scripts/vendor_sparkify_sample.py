"""Vendor a few MB of the real eventsim development log into ``data/sparkify/log_data/`` for the demo.

Every line of the chosen users, unchanged, in the daily files they came from
(``log_data/YYYY/MM/YYYY-MM-DD-events.json``). Users are drawn by a salted hash, churned and staying
users separately so the demo holds churn; a user is all in or all out. Reproducible: the same
source and arguments give the same bytes.

    python scripts/vendor_sparkify_sample.py ../shared/data/sparkify_eventsim --churned 28 --stayed 42
"""

from __future__ import annotations

import argparse
import csv
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


def vendor(source: Path, churned: int, stayed: int) -> tuple[int, int]:
    """Write the sample; (files, lines)."""
    users = choose_users(source / "churn_labels.csv", churned, stayed)
    files = lines = 0
    for path in sorted((source / "log_data").glob("**/*.json")):
        chosen = [
            line
            for line in path.read_text().splitlines(keepends=True)
            if line.strip() and str(json.loads(line).get("userId")) in users
        ]
        if not chosen:
            continue
        target = OUT / path.relative_to(source / "log_data")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(chosen))
        files, lines = files + 1, lines + len(chosen)
    return files, lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--churned", type=int, default=28)
    parser.add_argument("--stayed", type=int, default=42)
    args = parser.parse_args()
    written = vendor(args.source, args.churned, args.stayed)
    print(f"{written[0]} files, {written[1]} lines in {OUT}")
