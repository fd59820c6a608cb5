"""The Gravity Spy pyfunc contract on real PNGs: base64 records and ``_uri`` records, through MLflow's
own save/load; records the loop must dead-letter, with their reasons."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from assets.gravityspy.images import decode_png
from assets.gravityspy.layout import parse_key
from assets.gravityspy.model import EXTRA_TRAINERS, time_shift
from assets.gravityspy.records import URI_COLUMNS, VIEW_COLUMNS, RecordError, frame_grids, stream_record
from assets.gravityspy.schema import RECORD_SCHEMA
from assets.loop.records import parse_message

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "gravityspy"
CLASSES = ["Blip", "Whistle"]
PER_CLASS = 6  # trained on; the next ones are scored


def _glitches(label: str, landing: Path) -> list[dict]:
    """The shared PNGs of ``label``, landed (a view's URI may only name a file in the landing)."""
    found: dict[str, dict] = {}
    for source in sorted((SHARED / label).glob("*.png")):
        path = landing / "gravityspy" / label / source.name
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)
        parsed = parse_key(f"gravityspy/{label}/{path.name}")
        entry = found.setdefault(parsed["id"], {"id": parsed["id"], "ifo": parsed["ifo"], "label": label})
        entry[f"spectrogram_{parsed['view']}_uri"] = str(path)
    return list(found.values())


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("gravityspy-landing")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FLYWHEEL_LANDING", str(folder))
        yield folder


@pytest.fixture(scope="module")
def glitches(landing: Path) -> pd.DataFrame:
    return pd.DataFrame([g for label in CLASSES for g in _glitches(label, landing)[: PER_CLASS + 3]])


@pytest.fixture(scope="module")
def saved_model(glitches: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory):
    train = glitches.groupby("label").head(PER_CLASS)
    # Training rows as the clean table holds them: the decoded grids.
    grids = frame_grids(train[["id", *URI_COLUMNS]])
    rows = train[["id", "ifo", "label"]].reset_index(drop=True)
    for j, view in enumerate(("0.5", "1.0", "2.0", "4.0")):
        rows[f"energy_{view}"] = list(grids[:, j, :])
    model = EXTRA_TRAINERS["pca_logistic_tiny"](rows, CLASSES, 0)
    path = tmp_path_factory.mktemp("gravityspy-model") / "model"
    mlflow.pyfunc.save_model(str(path), python_model=model)
    return mlflow.pyfunc.load_model(str(path))


def _scored(glitches: pd.DataFrame) -> pd.DataFrame:
    return glitches.groupby("label").tail(3).reset_index(drop=True)


def _base64_records(frame: pd.DataFrame) -> pd.DataFrame:
    records = frame[["id", "ifo"]].copy()
    for view, uri in zip(VIEW_COLUMNS, URI_COLUMNS, strict=True):
        records[view] = [base64.b64encode(Path(p).read_bytes()).decode() for p in frame[uri]]
    return records


def test_pyfunc_on_base64_and_uri_records(saved_model, glitches: pd.DataFrame) -> None:
    scored = _scored(glitches)
    by_base64 = saved_model.predict(_base64_records(scored))
    by_uri = saved_model.predict(scored[["id", "ifo", *URI_COLUMNS]])
    for output in (by_base64, by_uri):
        assert list(output.columns) == [*CLASSES, "prediction"]
        assert len(output) == len(scored)
        np.testing.assert_allclose(output[CLASSES].sum(axis=1), 1.0, atol=1e-6)
        assert set(output["prediction"]) <= set(CLASSES)
    # The same glitch either way: the same answer.
    np.testing.assert_allclose(by_base64[CLASSES].to_numpy(), by_uri[CLASSES].to_numpy())
    # Blip and Whistle are far apart: a model trained on 12 glitches gets unseen ones right.
    assert (by_uri["prediction"] == scored["label"]).mean() >= 5 / 6


def test_undecodable_record_is_refused_with_its_reason(saved_model, glitches: pd.DataFrame) -> None:
    record = _base64_records(_scored(glitches).head(1))
    record["spectrogram_2.0"] = base64.b64encode(b"not a png at all").decode()
    with pytest.raises(RecordError, match="not_png: spectrogram_2.0"):
        saved_model.predict(record)


def _message(record: dict) -> bytes:
    return json.dumps(record).encode()


def test_loop_dead_letters_records_missing_a_view_or_undecodable(glitches: pd.DataFrame) -> None:
    schema = RECORD_SCHEMA
    good = _base64_records(_scored(glitches).head(1)).iloc[0].to_dict()
    record, reason = parse_message(_message(good), schema)
    assert reason is None and record is not None
    # The prepare hook adds the decoded grids and the content hash (what annotations train on).
    assert len(record["energy_0.5"]) == 64 * 64 and len(record["content_hash"]) == 16
    png = base64.b64decode(good["spectrogram_1.0"])
    cases = {
        "missing_view: spectrogram_4.0": {k: v for k, v in good.items() if k != "spectrogram_4.0"},
        "truncated: spectrogram_1.0": {**good, "spectrogram_1.0": base64.b64encode(png[:5000]).decode()},
        "not_base64: spectrogram_0.5": {**good, "spectrogram_0.5": "%%% not base64 %%%"},
        "uri_not_allowed: spectrogram_2.0_uri (FLYWHEEL_GRAVITYSPY_STREAM_URIS is off)": {
            **{k: v for k, v in good.items() if k != "spectrogram_2.0"},
            "spectrogram_2.0_uri": "/nonexistent/x.png",
        },
        "missing_fields: id": {k: v for k, v in good.items() if k != "id"},
    }
    for expected, bad in cases.items():
        record, reason = parse_message(_message(bad), schema)
        assert record is None and reason == f"not_a_record: {expected}", (expected, reason)


def test_prepared_record_hash_matches_clean_grids(glitches: pd.DataFrame, monkeypatch) -> None:
    """A record that came through the stream has the content hash of the same glitch's clean row."""
    monkeypatch.setenv("FLYWHEEL_GRAVITYSPY_STREAM_URIS", "on")
    row = _scored(glitches).iloc[0]
    from_uri = stream_record({"id": "a", **{c: row[c] for c in URI_COLUMNS}})
    from_b64 = stream_record(_base64_records(_scored(glitches).head(1)).iloc[0].to_dict() | {"id": "b"})
    assert from_uri["content_hash"] == from_b64["content_hash"]
    grid = decode_png(Path(row["spectrogram_0.5_uri"]).read_bytes()).reshape(-1)
    np.testing.assert_array_equal(np.asarray(from_uri["energy_0.5"], dtype=np.float32), grid)


def test_a_view_uri_reads_only_a_landed_file_within_the_limit(
    glitches: pd.DataFrame, landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 22 (2): any local path (``/dev/zero``), any object the credentials reach, no size limit,
    and reasons that told which paths exist. Now: inside the landing, a regular file, at most
    ``FLYWHEEL_GRAVITYSPY_URI_MAX_BYTES``, one reason for every refusal; on the stream only when
    ``FLYWHEEL_GRAVITYSPY_STREAM_URIS=on``."""
    monkeypatch.setenv("FLYWHEEL_GRAVITYSPY_STREAM_URIS", "on")
    schema = RECORD_SCHEMA
    good = {"id": "u", **{c: glitches.iloc[0][c] for c in URI_COLUMNS}}
    assert parse_message(_message(good), schema)[1] is None
    outside = tmp_path / "outside.png"
    shutil.copyfile(glitches.iloc[0]["spectrogram_1.0_uri"], outside)
    reasons = set()
    refused = ["/dev/zero", "/etc/passwd", str(outside), f"{landing}/../outside.png"]
    refused += [str(landing / "none.png"), "s3://another-bucket/key.png", "http://example.com/x.png"]
    for uri in refused:
        record, reason = parse_message(_message({**good, "spectrogram_1.0_uri": uri}), schema)
        assert record is None, uri
        reasons.add(reason)
    assert reasons == {"not_a_record: unreadable_uri: spectrogram_1.0_uri (a landed file within the limit)"}
    monkeypatch.setenv("FLYWHEEL_GRAVITYSPY_URI_MAX_BYTES", "1000")  # a landed PNG, but too large
    assert parse_message(_message(good), schema)[1].startswith("not_a_record: unreadable_uri: spectrogram_")


def test_time_shift_moves_time_not_frequency() -> None:
    import torch

    batch = torch.zeros((3, 4, 8, 10))
    batch[:, :, 5, 4] = 1.0  # one bright cell per view
    shifted = time_shift(batch, torch.Generator().manual_seed(1), max_shift=3)
    rows = shifted.amax(dim=3)  # per row: any energy left there
    assert torch.equal(rows, batch.amax(dim=3))  # still only row 5: frequencies untouched
    assert shifted.sum() == batch.sum()


def test_annotation_page_shows_the_four_views_side_by_side(glitches: pd.DataFrame) -> None:
    from apps.annotate.render import kind_of, render_payload

    prepared = stream_record(_base64_records(_scored(glitches).head(1)).iloc[0].to_dict())
    html = render_payload(prepared)
    assert kind_of(prepared) == "spectrograms"
    assert html.count("<img") == 4 and html.count("data:image/png;base64,") == 4
    captions = [html.index(f"<figcaption>{v} s</figcaption>") for v in ("0.5", "1.0", "2.0", "4.0")]
    assert captions == sorted(captions)  # shortest duration first
    assert "energy_0.5" not in html and prepared["content_hash"] in html  # grids are not table rows
