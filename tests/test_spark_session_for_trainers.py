"""Trainers that hold no ``spark`` resource take the project's session (issue 22, item 15): a bare
``SparkSession.builder.getOrCreate()`` started a default session that ignored ``SPARK_MASTER``,
driver memory and Arrow settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import numpy as np, pandas as pd
from assets.sparkify import model
frame = pd.DataFrame({name: np.arange(4.0) for name in model.MODEL_FEATURES})
frame = frame.assign(churn=["churn", "stay", "stay", "churn"], userId=list("abcd"))
data, _ = model._spark_frame(frame, ["churn", "stay"])
session = data.sparkSession
print("MASTER", session.sparkContext.master, session.conf.get("spark.app.name"))
"""


def test_a_trainer_without_a_session_starts_the_projects_one(tmp_path: Path) -> None:
    env = {**os.environ, "SPARK_MASTER": "local[1]", "FLYWHEEL_HOME": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "MASTER local[1] flywheel" in out.stdout, out.stdout
