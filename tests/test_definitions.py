"""The code location loads and validates with Dagster's own CLI."""

import os
import subprocess
import sys
from pathlib import Path

from orchestration.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def test_definitions_have_every_shared_resource(flywheel_env: Settings) -> None:
    from orchestration.definitions import build_definitions

    defs = build_definitions()
    assert {"spark", "kafka", "object_store", "mlflow_registry", "annotations", "io_manager"} <= set(
        defs.resources
    )


def test_dagster_definitions_validate(flywheel_env: Settings) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, capture_output=True, text=True, env=os.environ.copy(), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Validation successful for code location flywheel" in proc.stdout + proc.stderr
