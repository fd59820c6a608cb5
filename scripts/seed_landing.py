"""Copy the bundled samples (``data/<use_case>/...``) into the landing zone, local or S3.

Used by ``make demo``. A file already in the landing with the same bytes is left alone, so running
the demo twice does not make the landing sensor see "changed" files. A use case's ``transfer/``
folder is never landed: it holds series the champion is judged on, never trained on (flow's NAB sample).
"""

from __future__ import annotations

import sys
from pathlib import Path

from orchestration.settings import export_defaults
from orchestration.use_cases import use_case_names
from resources.object_store import ObjectStoreResource

DATA = Path(__file__).resolve().parents[1] / "data"


def _reference(folder: Path, path: Path) -> bool:
    return path.relative_to(folder).parts[0] == "transfer"


def seed(use_cases: list[str]) -> int:
    """Land every bundled sample not already there; one line per use case. Returns files copied."""
    settings = export_defaults()
    store = ObjectStoreResource(landing=settings.landing, endpoint_url=settings.aws_endpoint_url)
    print(f"landing the bundled samples in {settings.landing}")
    copied = 0
    for use_case in use_cases:
        folder = DATA / use_case
        if not folder.is_dir():
            continue
        new, size, unchanged = 0, 0, 0
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not _reference(folder, p)):
            key = f"{use_case}/{path.relative_to(folder).as_posix()}"
            if store.exists(key) and store.read_bytes(key) == path.read_bytes():
                unchanged += 1
                continue
            store.upload_file(path, key)
            new, size = new + 1, size + path.stat().st_size
        copied += new
        landed = f"{new} new file(s), {size / 1e6:.1f} MB" if new else "nothing new"
        print(f"  {use_case:<10} {landed}" + (f" ({unchanged} already landed)" if unchanged else ""))
    return copied


if __name__ == "__main__":
    seed(sys.argv[1:] or list(use_case_names()))
