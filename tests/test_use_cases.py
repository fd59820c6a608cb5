"""Discovery and the one naming scheme: a package under ``assets/`` that declares a ``UseCase`` is a use
case, and nothing outside it lists use cases by name."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from orchestration.use_cases import ASSETS, load_use_case, load_use_cases, use_case_names

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_with_a_declaration_is_found_and_loads() -> None:
    names = use_case_names()
    declared = sorted(
        p.parent.name for p in ASSETS.glob("*/definitions.py") if (p.parent / "__init__.py").exists()
    )
    assert list(names) == declared and len(names) >= 6
    assert not {"lifecycle", "loop", "quality", "kits", "trainers", "labeling"} & set(names)
    for name, declared in load_use_cases().items():
        assert declared.name == name == declared.spec.use_case


def test_every_use_case_has_the_four_jobs_of_one_naming_scheme() -> None:
    from orchestration.definitions import build_definitions

    defs = build_definitions()
    for name in use_case_names():
        streaming = load_use_case(name).loop is not None
        for job in ("ingest", "train", *(("score", "retrain") if streaming else ())):
            assert defs.resolve_job_def(f"{name}_{job}").name == f"{name}_{job}"
        assert load_use_case(name).materialize_jobs[-1] == f"{name}_train"


def test_a_package_whose_definitions_declare_no_use_case_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import orchestration.use_cases as discovery

    fake = tmp_path / "assets"
    (fake / "half_done").mkdir(parents=True)
    (fake / "half_done" / "__init__.py").write_text("")
    (fake / "half_done" / "definitions.py").write_text("defs = None\n")
    (fake / "shared_code").mkdir()
    (fake / "shared_code" / "__init__.py").write_text("")  # no definitions.py: not a use case
    monkeypatch.setattr(discovery, "ASSETS", fake)
    import assets

    monkeypatch.setattr(assets, "__path__", [str(fake), *assets.__path__])  # the fake package imports
    monkeypatch.delitem(sys.modules, "assets.half_done", raising=False)
    monkeypatch.delitem(sys.modules, "assets.half_done.definitions", raising=False)
    assert discovery.use_case_names() == ("half_done",)
    with pytest.raises(TypeError, match=r"assets/half_done/definitions.py must declare `use_case = UseCase"):
        discovery.load_use_case("half_done")
    with pytest.raises(ValueError, match="unknown use case 'nope'; known: half_done"):
        discovery.load_use_case("nope")


def test_the_cli_lists_what_it_finds() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "use-cases"], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    listed = [line.split()[0] for line in out.stdout.splitlines() if line and not line.startswith(" ")]
    assert listed == list(use_case_names())


def _name_lists(path: Path, names: set[str]) -> list[int]:
    """Lines of ``path`` holding a tuple/list/set/dict literal that names three or more use cases."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        items = node.keys if isinstance(node, ast.Dict) else getattr(node, "elts", None)
        if not isinstance(node, ast.List | ast.Tuple | ast.Set | ast.Dict) or items is None:
            continue
        named = {i.value for i in items if isinstance(i, ast.Constant) and i.value in names}
        if len(named) >= 3:
            found.append(node.lineno)
    return found


def test_no_list_of_use_case_names_outside_the_use_cases() -> None:
    """Product code finds use cases; it never lists them (tests may name the ones they exercise)."""
    names = set(use_case_names())
    own = {ASSETS / n for n in names}
    offenders = {}
    for folder in ("assets", "orchestration", "resources", "sensors", "apps", "scripts", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            if any(parent in own for parent in path.parents):
                continue
            lines = _name_lists(path, names)
            if lines:
                offenders[str(path.relative_to(ROOT))] = lines
    assert offenders == {}
