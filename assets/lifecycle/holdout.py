"""The frozen holdout: drawn once, versioned, never trained on; replacing it is explicit and logged.

Membership is decided by a hash of the record id, so it does not depend on row order or on which
machine draws it. The rows themselves are stored (not just ids), so later changes to the source
table cannot change what a model is judged on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd


def in_holdout(ids: pd.Series, fraction: float, salt: str) -> pd.Series:
    """Boolean mask: True for ids whose salted hash falls in the first ``fraction`` of the range."""
    cutoff = int(fraction * 10_000)

    def bucket(value: object) -> int:
        digest = hashlib.sha1(f"{salt}:{value}".encode()).digest()
        return int.from_bytes(digest[:4], "big") % 10_000

    return ids.map(bucket) < cutoff


@dataclass(frozen=True)
class HoldoutVersion:
    version: int
    path: Path
    rows: int
    created_at: str
    reason: str


class HoldoutStore:
    """Versions of one use case's holdout under ``<FLYWHEEL_HOME>/lifecycle/<uc>/holdout``."""

    def __init__(self, root: Path):
        self.root = root
        self.manifest = root / "manifest.json"

    def _entries(self) -> list[dict]:
        return json.loads(self.manifest.read_text()) if self.manifest.exists() else []

    def current(self) -> HoldoutVersion | None:
        entries = self._entries()
        if not entries:
            return None
        e = entries[-1]
        return HoldoutVersion(e["version"], self.root / e["file"], e["rows"], e["created_at"], e["reason"])

    def history(self) -> list[dict]:
        return self._entries()

    def freeze(self, rows: pd.DataFrame, reason: str) -> HoldoutVersion:
        """Store ``rows`` as the next holdout version and make it current."""
        entries = self._entries()
        version = (entries[-1]["version"] + 1) if entries else 1
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"holdout-v{version}.parquet"
        rows.to_parquet(self.root / name, index=False)
        entry = {
            "version": version,
            "file": name,
            "rows": len(rows),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "reason": reason,
        }
        self.manifest.write_text(json.dumps(entries + [entry], indent=1))
        return self.current()  # type: ignore[return-value]
