"""Small file helpers for outputs that several processes read while others write them.

A reader must see either the old file or the new one, never half of one: writes go to a temporary
file in the same folder and are renamed over the target (``os.replace`` is atomic on one file
system). Per-run folders keep what one run wrote apart from every other run; ``prune_run_dirs``
keeps their number bounded without touching folders a run may still be using.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the whole old or the whole new content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def prune_run_dirs(root: Path, keep_latest: int = 20, keep_days: float = 7.0, spare: str = "") -> int:
    """Remove run folders under ``root`` older than ``keep_days``, but never the ``keep_latest``
    newest ones nor ``spare`` (the calling run's own): a run that started long ago and is still
    going keeps its files as long as it is among the newest. Returns how many were removed."""
    if not root.is_dir():
        return 0
    folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    cutoff = time.time() - keep_days * 86_400
    removed = 0
    for folder in folders[keep_latest:]:
        if folder.name != spare and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
