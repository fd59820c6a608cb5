"""The Dagster code location: every use case's assets, checks, sensors and jobs, plus resources.

Each use case lives in ``assets/<use_case>/``; its ``definitions`` module declares ``use_case`` (an
:class:`assets.usecase.UseCase`), found by :mod:`orchestration.use_cases` (no list of names). The
package ``__init__`` stays free of Dagster so that served models can import the use case's pure
modules cheaply. This module merges the use cases' definitions with the shared resources.
``workspace.yaml`` points here.
"""

from __future__ import annotations

from dagster import Definitions

from orchestration.use_cases import load_use_cases
from resources import build_resources


def use_case_definitions() -> dict[str, Definitions]:
    """``defs`` of every use case found under ``assets/``, keyed by use case name."""
    return {name: use_case.definitions() for name, use_case in load_use_cases().items()}


def build_definitions() -> Definitions:
    return Definitions.merge(*use_case_definitions().values(), Definitions(resources=build_resources()))


defs = build_definitions()
