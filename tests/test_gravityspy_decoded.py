"""The per-file decoded table's bookkeeping (no Spark): which files need decoding, and pruning the
rows of files gone from the landing or replaced."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from assets.gravityspy.decoded import prune, slot_index, slot_name, to_decode


def _slot(root: Path, pairs: list[tuple[str, str]]) -> None:
    folder = root / slot_name(pairs)
    folder.mkdir(parents=True)
    frame = pd.DataFrame(pairs, columns=["key", "version"]).assign(reason=None, energy=[[0.5]] * len(pairs))
    frame.to_parquet(folder / "part-0.parquet", index=False)


def test_only_new_or_replaced_files_are_decoded_and_gone_ones_pruned(tmp_path: Path) -> None:
    root = tmp_path / "decoded"
    assert to_decode(slot_index(root), {"a": "1"}) == ["a"]  # nothing decoded yet
    _slot(root, [("a", "1"), ("b", "1")])
    _slot(root, [("c", "1")])
    landed = {"a": "1", "b": "2", "d": "1"}  # b replaced, c gone, d new
    index = slot_index(root)
    assert to_decode(index, landed) == ["b", "d"]
    assert prune(root, index, landed) == 2  # old b, and c
    after = slot_index(root)
    assert sorted(zip(after["key"], after["version"], strict=True)) == [("a", "1")]
    assert len(list(root.glob("slot=*"))) == 1  # c's slot held nothing live: removed
    assert to_decode(after, {"a": "1"}) == [] and prune(root, after, {"a": "1"}) == 0
