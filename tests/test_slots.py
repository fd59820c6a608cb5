"""Slots replaced atomically (issue 22, item 6): a reader of the slots never finds one missing while
its file is re-ingested (Spark's overwrite deleted the folder before writing, and the readers skip
a missing slot without a word)."""

from __future__ import annotations

import threading
from pathlib import Path

from assets.slots import replace_dir, staging_path


def test_a_reader_never_sees_the_slot_missing_while_it_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "readings" / "slot=a"
    target.mkdir(parents=True)
    (target / "part-0.parquet").write_text("v0")
    missing, stop = [], threading.Event()

    def read() -> None:
        while not stop.is_set():
            if not (target / "part-0.parquet").exists():
                missing.append(1)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for version in range(1, 300):
            staged = staging_path(target)
            staged.mkdir()
            (staged / "part-0.parquet").write_text(f"v{version}")
            replace_dir(staged, target)
    finally:
        stop.set()
        reader.join()
    assert missing == []
    assert (target / "part-0.parquet").read_text() == "v299"
    assert sorted(p.name for p in target.parent.iterdir()) == ["slot=a"]  # no staging or old left
