"""Process-global state that tests must reset between them (the fixtures call these)."""

from __future__ import annotations

import sys


def point_mlflow_at(uri: str) -> None:
    """MLflow keeps its tracking and registry URIs in process globals (``start_run`` sets them): an
    earlier test's would otherwise answer ``models:/`` look-ups from that test's store."""
    if "mlflow" in sys.modules:  # not imported yet: it reads the environment when it is
        import mlflow

        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
