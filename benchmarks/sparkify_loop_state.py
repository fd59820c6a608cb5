"""What the Sparkify loop pays per batch as the stream grows (issue 22, item 3).

    PYTHONPATH=. python benchmarks/sparkify_loop_state.py [--batches 100 --events 500 --users 3000]

Writes ``--batches`` predictions partitions of ``--events`` eventsim-shaped events each (as the
scoring runs write them) into a scratch ``FLYWHEEL_HOME`` and, after batch 10 and after the last,
times what a batch and a retrain tick cost: the batch's users' streamed history (it grows with those
users' own events, which their score needs) and the resolved outcome count (flat), through the
compacted stream state, beside the old way (every partition read and every record JSON-parsed).
The last line is ``after_10_ms=… after_<N>_ms=… full_scan_after_<N>_ms=…``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import pandas as pd

DAY_MS = 86_400_000


def _batch(rng: np.random.Generator, index: int, events: int, users: int) -> pd.DataFrame:
    start = 1_538_352_000_000 + index * DAY_MS // 4
    user = rng.integers(1, users + 1, events)
    records = [
        {"ts": int(start + i * 1000), "userId": str(u), "sessionId": int(index), "itemInSession": i,
         "page": "Cancellation Confirmation" if rng.random() < 0.002 else "NextSong", "auth": "Logged In",
         "level": "paid", "song": "x", "artist": "y", "length": 200.0}
        for i, u in enumerate(user)
    ]  # fmt: skip
    return pd.DataFrame({"key": [f"{r['userId']}:{index}:{r['itemInSession']}" for r in records],
                         "record": [json.dumps(r) for r in records]})  # fmt: skip


def _full_scan(users: list[str]) -> tuple[int, int]:
    """The old cost: every partition read, every record parsed (history and outcomes)."""
    from assets.loop.scoring import tables

    files = sorted(tables("sparkify", "predictions").glob("batch=*/*.parquet"))
    table = pd.concat([pd.read_parquet(f, columns=["key", "record"]) for f in files], ignore_index=True)
    records = pd.DataFrame([json.loads(r) for r in table["record"]])
    return int(records["userId"].isin(set(users)).sum()), int(records["userId"].nunique())


def _timed(batch: pd.DataFrame) -> tuple[float, float, int]:
    """(history ms, outcome count ms, history rows) for one batch, as a scoring run and a tick pay."""
    from assets.sparkify.stream import resolved_outcomes, streamed_history

    users = sorted({json.loads(r)["userId"] for r in batch["record"]})
    started = time.perf_counter()
    rows = len(streamed_history(users))
    middle = time.perf_counter()
    resolved_outcomes()
    return (middle - started) * 1000, (time.perf_counter() - middle) * 1000, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--users", type=int, default=3000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as home:
        os.environ["FLYWHEEL_HOME"] = home
        from assets.loop.scoring import write_partition

        figures = {}
        for index in range(1, args.batches + 1):
            batch = _batch(rng, index, args.events, args.users)
            slot = f"0_{index * args.events}-{(index + 1) * args.events}"
            write_partition(batch, "sparkify", "predictions", slot)
            history, outcomes, rows = _timed(batch)  # every batch folds its partition, as scoring does
            if index in (10, args.batches):
                figures[index] = history + outcomes
                print(
                    f"after {index:4d} batches ({index * args.events:,} events): history {history:6.1f} ms "
                    f"({rows:,} events of the batch's users), outcome count {outcomes:5.1f} ms"
                )
        users = sorted({json.loads(r)["userId"] for r in batch["record"]})
        started = time.perf_counter()
        _full_scan(users)
        full = (time.perf_counter() - started) * 1000
        print(f"the old full scan after {args.batches} batches: {full:.1f} ms")
    print(f"after_10_ms={figures[10]:.1f} after_{args.batches}_ms={figures[args.batches]:.1f} "
          f"full_scan_after_{args.batches}_ms={full:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
