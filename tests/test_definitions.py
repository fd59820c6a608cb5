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


HEAVY = ("mlflow", "sklearn", "great_expectations", "snorkel", "torch", "pyspark", "PIL")


def test_loading_the_code_location_imports_no_heavy_library(flywheel_env: Settings) -> None:
    """Every run and step process imports the definitions first: none of them may pay for MLflow,
    scikit-learn, GX, Snorkel, torch, PySpark or Pillow before a step asks for it."""
    probe = (
        "import json, sys\n"
        "import orchestration.definitions as d\n"
        "assert d.defs.resolve_job_def('disaster_score') is not None\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {list(HEAVY)!r})))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, env=os.environ.copy(),
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout.strip().splitlines()[-1]
    assert loaded == "[]", f"importing orchestration.definitions loaded {loaded}"


def test_scoring_and_retraining_run_in_one_process_with_queue_tags(flywheel_env: Settings) -> None:
    from orchestration.definitions import build_definitions
    from orchestration.run_tags import SCORE_TAG, TRAIN_TAG
    from orchestration.use_cases import use_case_names

    defs = build_definitions()
    for uc in use_case_names():
        score, retrain = defs.resolve_job_def(f"{uc}_score"), defs.resolve_job_def(f"{uc}_retrain")
        assert score.executor_def.name == "in_process" and score.tags[SCORE_TAG] == uc
        assert retrain.executor_def.name == "in_process" and retrain.tags[TRAIN_TAG] == uc
    # The whole-graph training jobs run checks and branches side by side: one process per step.
    pipeline = defs.resolve_job_def("disaster_train")
    assert (
        pipeline.executor_def.name == "multi_or_in_process_executor"
        and pipeline.tags[TRAIN_TAG] == "disaster"
    )
