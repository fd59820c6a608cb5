"""``flywheel new``: a scaffolded use case trains a champion with no edit outside its own folder.

The project is copied to a temporary folder (as a clone would have it); every file's content hash is
taken before and after ``flywheel new demo_spam --kind text``, the user's own edit of the new
labeling functions, the landing of a generated CSV and ``flywheel materialize demo_spam``. Any file
outside ``assets/demo_spam/`` and ``docs/use-cases/demo_spam.md`` that changed, appeared or vanished
fails the test.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures.kit_data import write_images, write_rows, write_tags, write_windows
from fixtures.spam_csv import write_spam_csv

from orchestration.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
NEW = "demo_spam"
OWN = (f"assets/{NEW}/", f"docs/use-cases/{NEW}.md")
#: What a user adds to the scaffolded labeling functions: keywords, the shouting class, and a third LF.
USER_EDIT = '''

KEYWORDS.update({"spam": ("prize", "winner", "claim"), "ham": ("meeting", "lunch", "dinner")})
SHOUTED = "spam"


def money(text: str) -> str | None:
    """Cash and offers are what spam sells."""
    return "spam" if any(w in text.lower().split() for w in ("cash", "offer", "bonus")) else None


LABELING_FUNCTIONS.append(money)
'''


def _project_copy(target: Path) -> Path:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _hashes(root: Path) -> dict[str, str]:
    skip = ("__pycache__", ".pytest_cache", ".ruff_cache")
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and not any(part in skip for part in p.parts)
    }


def _outside(before: dict[str, str], after: dict[str, str], own: tuple[str, ...] = OWN) -> list[str]:
    touched = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    return sorted(p for p in touched if not p.startswith(own))


def _env(project: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(project)}


def _flywheel(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *args],
        cwd=project,
        env=_env(project),
        capture_output=True,
        text=True,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return _project_copy(tmp_path / "project")


def test_a_scaffolded_text_use_case_trains_a_champion_with_no_edit_outside_its_folder(
    project: Path, flywheel_env: Settings
) -> None:
    before = _hashes(project)
    made = _flywheel(project, "new", NEW, "--kind", "text")
    assert made.returncode == 0, made.stderr
    after_new = _hashes(project)
    assert _outside(before, after_new) == []
    assert {p for p in after_new if p.startswith(OWN)} >= {
        f"assets/{NEW}/definitions.py",
        f"assets/{NEW}/parsing.py",
        f"assets/{NEW}/labeling_functions.py",
        f"assets/{NEW}/schema.py",
        f"assets/{NEW}/test_{NEW}.py",
        f"docs/use-cases/{NEW}.md",
    }
    with (project / "assets" / NEW / "labeling_functions.py").open("a") as handle:
        handle.write(USER_EDIT)
    landed = write_spam_csv(Path(flywheel_env.landing) / NEW / "messages.csv")

    heavy = "{'mlflow', 'sklearn', 'great_expectations', 'snorkel', 'torch', 'pyspark', 'PIL'}"
    loaded_roots = "{m.split('.')[0] for m in sys.modules}"
    probe = f"import sys, assets.{NEW}.definitions\nprint(sorted({heavy} & {loaded_roots}))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=project, capture_output=True, text=True, env=_env(project)
    )
    assert loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr  # the code location stays light

    listed = _flywheel(project, "use-cases")
    assert listed.returncode == 0 and any(line.startswith(NEW) for line in listed.stdout.splitlines())
    run = _flywheel(project, "materialize", NEW)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = next(line for line in run.stdout.splitlines() if line.startswith(f"{NEW} "))
    assert f" {landed['rows']} " in summary and " v1 " in summary  # rows in, and a champion
    own_tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"assets/{NEW}"],
        cwd=project,
        env=_env(project),
        capture_output=True,
        text=True,
    )
    assert own_tests.returncode == 0, own_tests.stdout
    assert _outside(before, _hashes(project)) == []

    quarantine = pd.read_parquet(Path(flywheel_env.home) / "tables" / NEW / "quarantine")
    assert sorted(quarantine["reason"]) == ["duplicate_id", "empty_text", "missing_id"]
    assert set(quarantine["source_file"]) == {f"{NEW}/messages.csv"}  # the landing key, not a local path
    training = pd.read_parquet(Path(flywheel_env.home) / "tables" / NEW / "training_table.parquet")
    assert set(training["label_source"]) == {"ground_truth", "weak"}
    assert (training["label_source"] == "ground_truth").sum() == landed["labelled"]

    import mlflow

    champion = mlflow.pyfunc.load_model(f"models:/{NEW}@champion")
    records = pd.DataFrame(
        {"id": ["a", "b"], "text": ["claim your free prize now", "lunch meeting tomorrow"]}
    )
    output = champion.predict(records)
    assert list(output.columns) == ["ham", "spam", "prediction"]
    assert list(output["prediction"]) == ["spam", "ham"]


def test_new_refuses_bad_names_and_existing_folders(project: Path) -> None:
    for bad, reason in [
        ("Spam", "lower case"),
        ("lifecycle", "shared module or package"),
        ("lazy", "shared module or package"),  # assets/lazy.py: a package of that name would shadow it
        ("disaster", "exists already"),
    ]:
        refused = _flywheel(project, "new", bad, "--kind", "text")
        assert refused.returncode == 1 and reason in refused.stderr, refused.stderr
    assert not (project / "assets" / "Spam").exists()


#: The other kinds, each with its generated landing data.
KINDS = {
    "demo_rows": ("tabular", write_rows),
    "demo_tags": ("multilabel-text", write_tags),
    "demo_wave": ("timeseries", write_windows),
    "demo_pics": ("image", write_images),
}


def test_every_other_kind_scaffolds_and_trains_a_champion(project: Path, flywheel_env: Settings) -> None:
    """Tabular rows, tagged texts, windows and images: scaffolded, landed, materialized in one run."""
    import mlflow

    from resources.mlflow_registry import CHAMPION, MlflowRegistry

    before = _hashes(project)
    landed = {}
    for name, (kind, write) in KINDS.items():
        made = _flywheel(project, "new", name, "--kind", kind)
        assert made.returncode == 0, made.stderr
        landed[name] = write(Path(flywheel_env.landing) / name)
    own = tuple(p for name in KINDS for p in (f"assets/{name}/", f"docs/use-cases/{name}.md"))
    run = _flywheel(project, "materialize", *KINDS)
    assert run.returncode == 0, run.stdout + run.stderr
    assert _outside(before, _hashes(project), own) == []
    registry = MlflowRegistry(flywheel_env.mlflow_tracking_uri)
    for name in KINDS:
        summary = next(line for line in run.stdout.splitlines() if line.startswith(f"{name} "))
        fields = summary.split()  # use case, runs, rows in, kept, quarantined, checks ok, failed, champion
        assert fields[2:5] == [str(landed[name]), str(landed[name] - 1), "1"] and fields[7] == "v1", summary
        assert registry.get_alias(name, CHAMPION) is not None
    wave = mlflow.pyfunc.load_model("models:/demo_wave@champion")
    steps = np.arange(60)
    windows = pd.DataFrame(
        {"id": ["f", "s"], "values": [list(np.sin(steps * 0.6)), ";".join(map(str, np.sin(steps * 0.15)))]}
    )
    assert list(wave.predict(windows).columns) == ["fast", "slow", "prediction"]
    tags = mlflow.pyfunc.load_model("models:/demo_tags@champion").predict(
        pd.DataFrame({"id": ["x"], "text": ["pizza soup goal match"]})
    )
    assert sorted(tags["prediction"].iat[0]) == ["food", "sport"]
