"""The Dagster code location: every use case's assets, checks, sensors and jobs, plus resources.

Each use case lives in ``assets/<use_case>/``; its ``definitions`` module exposes ``defs`` (a
``dagster.Definitions``). The package ``__init__`` stays free of Dagster so that served models can
import the use case's pure modules cheaply. This module merges the use cases that exist with the
shared resources. ``workspace.yaml`` points here.
"""

from __future__ import annotations

import importlib

from dagster import Definitions

from orchestration.settings import USE_CASES
from resources import build_resources


def use_case_definitions() -> dict[str, Definitions]:
    """``defs`` of every use-case package present, keyed by use case name."""
    found: dict[str, Definitions] = {}
    for name in USE_CASES:
        try:
            module = importlib.import_module(f"assets.{name}.definitions")
        except ModuleNotFoundError as exc:
            if exc.name in (f"assets.{name}", f"assets.{name}.definitions"):
                continue  # not built yet
            raise
        found[name] = module.defs
    return found


def build_definitions() -> Definitions:
    return Definitions.merge(*use_case_definitions().values(), Definitions(resources=build_resources()))


defs = build_definitions()
