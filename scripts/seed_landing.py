"""Copy the bundled samples (``data/<use_case>/...``) into the landing zone, local or S3.

Used by ``make demo``. A file already in the landing with the same bytes is left alone, so running
the demo twice does not make the landing sensor see "changed" files.
"""

from __future__ import annotations

import sys
from pathlib import Path

from orchestration.settings import USE_CASES, export_defaults
from resources.object_store import ObjectStoreResource

DATA = Path(__file__).resolve().parents[1] / "data"


def seed(use_cases: list[str]) -> int:
    settings = export_defaults()
    store = ObjectStoreResource(landing=settings.landing, endpoint_url=settings.aws_endpoint_url)
    copied = 0
    for use_case in use_cases:
        folder = DATA / use_case
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = f"{use_case}/{path.relative_to(folder).as_posix()}"
            if store.exists(key) and store.read_bytes(key) == path.read_bytes():
                continue
            store.upload_file(path, key)
            copied += 1
            print(f"landed {store.uri(key)}")
    print(f"{copied} sample file(s) copied into {settings.landing}")
    return copied


if __name__ == "__main__":
    seed(sys.argv[1:] or list(USE_CASES))
