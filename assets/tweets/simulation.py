"""Records for ``flywheel simulate tweets``: tweet objects as the streaming API delivers them.

Drawn (with replacement, by seed) from the raw Twitter v1.1 JSON under ``<landing>/tweets`` when it
is a local folder, else from the bundled sample; each gets a fresh ``id_str`` (``sim-<seed>-<n>``) so
that records are distinct. They go to ``<prefix>tweets.raw``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

TOPIC_KIND = "raw"
KEY_FIELD = "id_str"
BUNDLED = Path(__file__).resolve().parents[2] / "data" / "tweets" / "raw"


def reference_tweets(folder: Path = BUNDLED) -> list[dict[str, Any]]:
    tweets = []
    for path in sorted(folder.glob("*.json")):
        obj = json.loads(path.read_text())
        if isinstance(obj, dict) and "text" in obj:
            tweets.append(obj)
    if not tweets:
        raise FileNotFoundError(f"no raw tweet JSON in {folder}")
    return tweets


def records(home: Path, count: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    tweets = reference_tweets()
    picks = np.random.default_rng(seed).integers(0, len(tweets), count)
    for i, pick in enumerate(picks):
        yield {**tweets[pick], "id_str": f"sim-{seed}-{i}", "id": None}
