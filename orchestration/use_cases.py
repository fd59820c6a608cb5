"""Discovery: a package under ``assets/`` whose ``definitions.py`` declares a ``UseCase`` is a use case.

No list of names anywhere: the CLI, the code location, the annotation page and the landing seeder
ask this module. :func:`use_case_names` only looks at files (cheap: the annotation page and the CLI's
help use it); :func:`load_use_case` imports the declaration (Dagster, not the models).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

ASSETS = Path(__file__).resolve().parents[1] / "assets"
#: The module of a use-case package that declares it.
DECLARATION = "definitions"


def _packages() -> list[str]:
    return sorted(
        p.name
        for p in ASSETS.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and (p / f"{DECLARATION}.py").exists()
    )


def use_case_names() -> tuple[str, ...]:
    """Every use case under ``assets/``, sorted."""
    return tuple(_packages())


def require_use_case(name: str) -> str:
    """``name`` if it is a use case, else a ValueError listing the ones there are."""
    if name not in _packages():
        raise ValueError(f"unknown use case {name!r}; known: {', '.join(_packages()) or 'none'}")
    return name


def load_use_case(name: str) -> Any:
    """The ``UseCase`` that ``assets/<name>/definitions.py`` declares (as ``use_case``)."""
    from assets.usecase import UseCase

    module = importlib.import_module(f"assets.{require_use_case(name)}.{DECLARATION}")
    declared = getattr(module, "use_case", None)
    if not isinstance(declared, UseCase):
        raise TypeError(
            f"assets/{name}/{DECLARATION}.py must declare `use_case = UseCase(...)` "
            f"(found {type(declared).__name__})"
        )
    if declared.name != name:
        raise ValueError(f"assets/{name}/{DECLARATION}.py declares use case {declared.name!r}, not {name!r}")
    return declared


def load_use_cases() -> dict[str, Any]:
    return {name: load_use_case(name) for name in use_case_names()}


def record_schemas() -> dict[str, Any]:
    """Each streaming use case's record schema, from ``assets/<uc>/schema.py: RECORD_SCHEMA`` (a pure
    module, so the annotation page reads schemas without loading the asset graph)."""
    schemas = {}
    for name in use_case_names():
        if (ASSETS / name / "schema.py").exists():
            schemas[name] = importlib.import_module(f"assets.{name}.schema").RECORD_SCHEMA
    return schemas
