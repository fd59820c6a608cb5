"""A landed log replaced between the landing sensor's look and the ingest (issue 22, item 14):
``sparkify_file`` ingests the current version and says so, instead of ignoring ``read.changed``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import DagsterInstance, materialize

from assets.sparkify.assets import sparkify_file, sparkify_files
from resources import build_resources
from sensors.landing import OBJECT_VERSION_TAG

LINE = {
    "artist": "A", "auth": "Logged In", "firstName": "F", "gender": "F", "itemInSession": 0,
    "lastName": "L", "length": 200.5, "level": "free", "location": "Austin, TX", "method": "PUT",
    "page": "NextSong", "registration": 1540000000000, "sessionId": 1, "song": "S", "status": 200,
    "ts": 1543540000000, "userAgent": "Mozilla/5.0 (Windows NT 6.1)", "userId": "7",
}  # fmt: skip


def test_a_replaced_file_is_ingested_in_its_current_version_and_flagged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYWHEEL_HOME", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("FLYWHEEL_LANDING", str(tmp_path / "landing"))
    monkeypatch.setenv("SPARK_MASTER", "local[1]")
    key = "sparkify/2018-11-30-events.json"
    path = tmp_path / "landing" / key
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(LINE) + "\n" + json.dumps({**LINE, "itemInSession": 1, "ts": LINE["ts"] + 1}))
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(sparkify_files.name, [key])
    result = materialize(
        [sparkify_file], partition_key=key, instance=instance, resources=build_resources(resolved=True),
        tags={OBJECT_VERSION_TAG: "the-version-the-sensor-saw"},
    )  # fmt: skip
    meta = result.asset_materializations_for_node("sparkify_file")[0].metadata
    assert meta["version_changed"].value is True
    assert meta["requested_version"].value == "the-version-the-sensor-saw"
    assert meta["rows_in"].value == 2 == meta["rows_kept"].value
