"""Records for ``flywheel simulate gravityspy``: glitches as they would arrive on ``gravityspy.records``.

A record is ``{"id", "ifo", "spectrogram_0.5", …, "spectrogram_4.0"}``, each view the PNG file's bytes
base64-encoded (about 0.5–2 MB a record, hence :data:`MAX_MESSAGE_BYTES` for the topic and producer).

Where the glitches come from, in order: ``--from DIR`` (PNGs in the landing layout, class folders or
flat), else the clean glitch table under ``FLYWHEEL_HOME`` (its rows point at the landed files), else
freshly generated ones (:mod:`assets.gravityspy.generator`). Glitches are re-emitted in turn under new
ids (``sim-<seed>-<n>``) when ``count`` exceeds what there is: the content hash, not the id, tells
the lifecycle a record is a copy of a holdout glitch.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from assets.gravityspy.images import VIEWS
from assets.gravityspy.layout import parse_key
from assets.gravityspy.records import ID_COLUMN, IFO_COLUMN, URI_COLUMNS, VIEW_COLUMNS

KEY_FIELD = ID_COLUMN
#: Largest record the topic, the producer and the scoring reads accept (four large PNGs in base64).
MAX_MESSAGE_BYTES = 8 << 20


def _encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def folder_glitches(source: str | Path) -> list[dict[str, Any]]:
    """Glitches with all four views under ``source`` (recursively), as ``{ifo, uris}`` by id order."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(Path(source).rglob("*.png")):
        parsed = parse_key(f"x/{path.parent.name}/{path.name}")
        if parsed["id"] is None:
            continue
        entry = found.setdefault(parsed["id"], {IFO_COLUMN: parsed["ifo"], "uris": {}})
        entry["uris"][parsed["view"]] = str(path)
    return [
        {ID_COLUMN: gid, IFO_COLUMN: e[IFO_COLUMN], "uris": [e["uris"][v] for v in VIEWS]}
        for gid, e in sorted(found.items())
        if len(e["uris"]) == len(VIEWS)
    ]


def source_bytes(uri: str) -> bytes:
    """A source file of the simulator (a folder it was pointed at, or a landed file the clean table
    names). The simulator is a producer run by the user: it reads where it is told, unlike a scorer,
    which reads only what :func:`assets.gravityspy.records.read_uri` allows a record to name."""
    from urllib.parse import urlparse

    parsed = urlparse(uri)
    if parsed.scheme in ("s3", "s3a"):
        import boto3

        from orchestration.settings import get_settings

        client = boto3.client("s3", endpoint_url=get_settings().aws_endpoint_url)
        return client.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read()
    return Path(parsed.path if parsed.scheme == "file" else uri).read_bytes()


def table_glitches(home: Path) -> list[dict[str, Any]]:
    """Glitches of the clean tables (labelled and unlabelled), pointing at their landed files."""
    import pandas as pd

    clean = home / "tables" / "gravityspy" / "clean"
    frames = [pd.read_parquet(clean / name) for name in ("glitches.parquet", "unlabelled.parquet")]
    frames = [f for f in frames if len(f)]
    if not frames:
        return []
    table = pd.concat(frames, ignore_index=True)
    return [
        {ID_COLUMN: row[ID_COLUMN], IFO_COLUMN: row[IFO_COLUMN], "uris": [row[c] for c in URI_COLUMNS]}
        for _, row in table.iterrows()
    ]


def records(home: Path, count: int, seed: int = 0, source: str | None = None) -> Iterator[dict[str, Any]]:
    if source is not None:
        glitches = folder_glitches(source)
        if not glitches:
            raise ValueError(f"no glitch with all four spectrograms under {source}")
    elif (home / "tables" / "gravityspy" / "clean" / "glitches.parquet").exists():
        glitches = table_glitches(home)
    else:
        glitches = []
    rng = np.random.default_rng([seed, 13])
    if not glitches:
        yield from _generated(count, seed, rng)
        return
    order = rng.permutation(len(glitches))
    for i in range(count):
        glitch = glitches[order[i % len(glitches)]]
        record = {ID_COLUMN: f"sim-{seed}-{i}", IFO_COLUMN: glitch[IFO_COLUMN]}
        for column, uri in zip(VIEW_COLUMNS, glitch["uris"], strict=True):
            record[column] = _encode(source_bytes(uri))
        yield record


def _generated(count: int, seed: int, rng: np.random.Generator) -> Iterator[dict[str, Any]]:
    from assets.gravityspy.generator import DEFAULT_CLASSES, glitch_pngs

    for i in range(count):
        ifo = "H1" if rng.random() < 0.5 else "L1"
        pngs = glitch_pngs(DEFAULT_CLASSES[i % len(DEFAULT_CLASSES)], ifo, rng)
        record = {ID_COLUMN: f"sim-{seed}-{i}", IFO_COLUMN: ifo}
        record.update({column: _encode(pngs[v]) for column, v in zip(VIEW_COLUMNS, VIEWS, strict=True)})
        yield record
