"""Per-file output folders ("slots") replaced atomically: a reader sees the old slot or the new one,
never none. Spark's ``mode("overwrite")`` deletes the folder before it writes, and the readers that
union the slots (``flow_series``, ``sparkify_events``) skip a missing one without a word, so a
re-ingest racing a read silently dropped a file's rows. Plain Python, no Dagster, no Spark import.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
from pathlib import Path
from typing import Any
from uuid import uuid4

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


@functools.cache
def _renameat2() -> Any:
    """libc's ``renameat2``, looked up once; None where the C library has none."""
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def staging_path(target: Path) -> Path:
    """A hidden sibling of ``target`` (Spark and pyarrow skip names starting with a dot)."""
    return target.with_name(f".{target.name}.{uuid4().hex[:8]}.staging")


def replace_dir(staged: Path, target: Path) -> None:
    """Put the folder ``staged`` at ``target``: swapped in one step where the kernel can, else two
    renames a moment apart; the old contents are then deleted."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        staged.rename(target)
        return
    if _exchange(staged, target):
        shutil.rmtree(staged, ignore_errors=True)  # now holds the old slot
        return
    old = target.with_name(f".{target.name}.{uuid4().hex[:8]}.old")
    target.rename(old)
    staged.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def write_slot(frame: Any, target: str | Path) -> str:
    """``frame`` (a Spark DataFrame) as parquet at ``target``, replacing what was there atomically."""
    target = Path(str(target))
    staged = staging_path(target)
    try:
        frame.write.mode("overwrite").parquet(str(staged))
        replace_dir(staged, target)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return str(target)


def slot_name(key: str) -> str:
    """A folder name for one landed file: readable, and unique even when names collide."""
    import hashlib
    import re

    name = re.sub(r"[^A-Za-z0-9._-]+", "_", key.rsplit("/", 1)[-1])[:80]
    return f"{name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"


def tables_dir(use_case: str) -> Path:
    """``FLYWHEEL_HOME/tables/<use case>``: where a use case's clean tables live."""
    from orchestration.settings import get_settings

    return get_settings().data_dir("tables", use_case)
