"""One bad record dead-letters itself, never its batch (issue 22, item 1)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pandas as pd
import pytest
from test_gravityspy_images import decompression_bomb

from assets.gravityspy.records import ENERGY_COLUMNS, VIEW_COLUMNS, frame_grids
from assets.gravityspy.schema import RECORD_SCHEMA
from assets.loop.records import RecordSchema
from assets.loop.scoring import score_messages
from resources.kafka import KafkaRecord


def _messages(records: list[dict]) -> list[KafkaRecord]:
    return [
        KafkaRecord("t", 0, i, str(i), json.dumps(r).encode(), 1_700_000_000_000)
        for i, r in enumerate(records)
    ]


def _grid_model(frame: pd.DataFrame) -> pd.DataFrame:
    """Scores as the gravityspy pyfunc reads records: ``frame_grids`` stacks the four views."""
    grids = frame_grids(frame)
    p = 1.0 / (1.0 + np.exp(-grids.mean(axis=(1, 2))))
    return pd.DataFrame({"Blip": p, "Whistle": 1 - p, "prediction": np.where(p >= 0.5, "Blip", "Whistle")})


def test_a_gravityspy_batch_with_a_wrong_shape_and_a_bomb_scores_the_other_48() -> None:
    rng = np.random.default_rng(0)
    records = [
        {"id": f"g{i}", **{c: rng.random(64 * 64).round(3).tolist() for c in ENERGY_COLUMNS}}
        for i in range(48)
    ]
    records.insert(10, {"id": "short", **{c: [0.1] * 100 for c in ENERGY_COLUMNS}})
    bomb = base64.b64encode(decompression_bomb()).decode()
    records.insert(30, {"id": "bomb", **dict.fromkeys(VIEW_COLUMNS, bomb)})
    batch = score_messages(_messages(records), RECORD_SCHEMA, None, "1", "t", predict=_grid_model)
    assert len(batch.predictions) == 48 and batch.rows_in == 50
    assert set(batch.predictions["key"]) == {f"g{i}" for i in range(48)}
    reasons = dict(zip(batch.deadletter["offset"], batch.deadletter["reason"], strict=True))
    assert set(reasons) == {10, 30}
    assert reasons[10].startswith("not_a_record: wrong_shape") and "wrong_size" in reasons[30]


def test_a_record_the_model_chokes_on_is_found_and_dead_lettered_alone() -> None:
    schema = RecordSchema(key_field="id", required=("x",))

    def model(frame: pd.DataFrame) -> pd.DataFrame:
        if (frame["x"] == "boom").any():
            raise ValueError("cannot reshape array")
        p = frame["x"].astype(float).to_numpy() / 100
        return pd.DataFrame({"a": p, "b": 1 - p, "prediction": np.where(p > 0.5, "a", "b")})

    records = [{"id": f"r{i}", "x": "boom" if i in (3, 17) else str(i)} for i in range(20)]
    batch = score_messages(_messages(records), schema, None, "1", "t", predict=model)
    assert list(batch.predictions["key"]) == [f"r{i}" for i in range(20) if i not in (3, 17)]
    np.testing.assert_allclose(
        batch.predictions["proba__a"], [i / 100 for i in range(20) if i not in (3, 17)]
    )
    assert sorted(batch.deadletter["offset"]) == [3, 17]
    assert batch.deadletter["reason"].str.startswith("predict_failed: ValueError: cannot reshape").all()


def test_a_model_that_fails_on_every_record_fails_the_run_instead_of_dead_lettering_it() -> None:
    schema = RecordSchema(key_field="id", required=("x",))

    def broken(frame: pd.DataFrame) -> pd.DataFrame:
        raise ConnectionError("the feature store is down")

    with pytest.raises(ConnectionError):
        score_messages(
            _messages([{"id": f"r{i}", "x": "1"} for i in range(8)]), schema, None, "1", "t", predict=broken
        )
