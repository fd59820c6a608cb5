"""MLflow tracking and model registry, as the model lifecycle uses them.

Conventions (one registered model per use case, named after it):
- alias ``challenger``: the latest trained candidate;
- alias ``champion``: the model that scores the stream;
- alias ``previous-champion``: the champion before the current one (what a rollback returns to).
Every move of ``champion`` is appended to a JSON history kept as a registered-model tag and is
stamped on the version itself (who, when, why), so the audit trail survives in MLflow alone.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource
from pydantic import Field

if TYPE_CHECKING:  # MLflow is imported when a registry is opened: loading definitions stays cheap
    from mlflow.entities.model_registry import ModelVersion

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous-champion"
HISTORY_TAG = "flywheel.champion_history"
HISTORY_LIMIT = 40  # entries kept in the tag (each version keeps its own stamps forever)


def _mlflow_errors() -> tuple[type[Exception], ...]:
    """MLflow's exception types, for ``except`` clauses (evaluated only when something is raised)."""
    from mlflow.exceptions import MlflowException, RestException

    return (MlflowException, RestException)


def default_artifact_root(tracking_uri: str) -> str | None:
    """Beside a local SQLite store, artifacts go to ``mlartifacts/`` next to the database file.

    Without this MLflow would put them under the current working directory, which differs between
    the CLI, ``dagster dev`` and tests.
    """
    if tracking_uri.startswith("sqlite:///"):
        db_path = Path(tracking_uri.removeprefix("sqlite:///"))
        return (db_path.parent / "mlartifacts").resolve().as_uri()
    return None


class MlflowRegistry:
    """Plain client used by assets, the CLI and tests alike."""

    def __init__(self, tracking_uri: str, registry_uri: str | None = None, artifact_root: str | None = None):
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self.artifact_root = artifact_root or default_artifact_root(tracking_uri)
        if tracking_uri.startswith("sqlite:///"):
            Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)

    # -- tracking -------------------------------------------------------------------------------
    def experiment_id(self, use_case: str) -> str:
        """The experiment of a use case (created on first use)."""
        name = f"flywheel-{use_case}"
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        location = f"{self.artifact_root}/{use_case}" if self.artifact_root else None
        try:
            return self.client.create_experiment(
                name, artifact_location=location, tags={"use_case": use_case}
            )
        except _mlflow_errors():  # created concurrently by another process
            return self.client.get_experiment_by_name(name).experiment_id

    @contextmanager
    def start_run(self, use_case: str, run_name: str, tags: dict[str, str] | None = None) -> Iterator[Any]:
        """An active MLflow run in the use case's experiment, against this tracking store."""
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri)
        os.environ["MLFLOW_TRACKING_URI"] = self.tracking_uri
        with mlflow.start_run(
            experiment_id=self.experiment_id(use_case), run_name=run_name, tags=tags or {}
        ) as run:
            yield run

    # -- registry -------------------------------------------------------------------------------
    def ensure_model(self, use_case: str) -> None:
        try:
            self.client.get_registered_model(use_case)
        except _mlflow_errors():
            with suppress(*_mlflow_errors()):  # created concurrently by another process
                self.client.create_registered_model(use_case, tags={"use_case": use_case})

    def register_version(
        self, use_case: str, model_uri: str, run_id: str | None = None, tags: dict[str, str] | None = None
    ) -> ModelVersion:
        """Register ``model_uri`` as a new version of the use case's model and wait until READY."""
        self.ensure_model(use_case)
        version = self.client.create_model_version(
            name=use_case, source=model_uri, run_id=run_id, tags=tags or {}
        )
        deadline = time.monotonic() + 120
        while version.status == "PENDING_REGISTRATION" and time.monotonic() < deadline:
            time.sleep(0.2)
            version = self.client.get_model_version(use_case, version.version)
        return version

    def set_alias(self, use_case: str, alias: str, version: str | int) -> None:
        self.client.set_registered_model_alias(use_case, alias, str(version))

    def get_alias(self, use_case: str, alias: str) -> ModelVersion | None:
        """The version behind an alias, or None when the model or the alias does not exist."""
        try:
            return self.client.get_model_version_by_alias(use_case, alias)
        except _mlflow_errors():
            return None

    def champion_location(self, use_case: str) -> tuple[str, str] | None:
        """``(version, artifact URI)`` of the current champion, or None when there is none.

        The artifact URI (``file:///…/artifacts`` beside a SQLite store) loads without another
        registry round trip, which a scoring run would otherwise pay before its first prediction.
        """
        version = self.get_alias(use_case, CHAMPION)
        if version is None:
            return None
        return str(version.version), self.client.get_model_version_download_uri(use_case, version.version)

    def versions(self, use_case: str) -> list[ModelVersion]:
        try:
            found = self.client.search_model_versions(f"name = '{use_case}'")
        except _mlflow_errors():
            return []
        return sorted(found, key=lambda v: int(v.version))

    def aliases_of(self, use_case: str) -> dict[str, str]:
        """alias -> version for the use case's model."""
        try:
            model = self.client.get_registered_model(use_case)
        except _mlflow_errors():
            return {}
        return {alias: str(v) for alias, v in (model.aliases or {}).items()}

    # -- champion history -------------------------------------------------------------------------
    def history(self, use_case: str) -> list[dict[str, Any]]:
        try:
            model = self.client.get_registered_model(use_case)
        except _mlflow_errors():
            return []
        raw = (model.tags or {}).get(HISTORY_TAG)
        return json.loads(raw) if raw else []

    def promote(self, use_case: str, version: str | int, reason: str, actor: str = "flywheel",
                action: str = "promote") -> dict[str, Any]:  # fmt: skip
        """Move ``champion`` to ``version``; the outgoing champion becomes ``previous-champion``."""
        version = str(version)
        self.client.get_model_version(use_case, version)  # fails clearly on an unknown version
        current = self.get_alias(use_case, CHAMPION)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        current_version = str(current.version) if current is not None else None
        if current_version is not None and current_version != version:
            self.set_alias(use_case, PREVIOUS_CHAMPION, current_version)
            self.client.set_model_version_tag(use_case, current_version, "flywheel.demoted_at", now)
        self.set_alias(use_case, CHAMPION, version)
        for key, value in {
            "flywheel.promoted_at": now,
            "flywheel.promotion_reason": reason[:4000],
            "flywheel.promoted_by": actor,
            "flywheel.promotion_action": action,
        }.items():
            self.client.set_model_version_tag(use_case, version, key, value)
        entry = {
            "at": now,
            "action": action,
            "version": version,
            "previous": current_version,
            "reason": reason[:300],
            "actor": actor,
        }
        history = (self.history(use_case) + [entry])[-HISTORY_LIMIT:]
        self.client.set_registered_model_tag(use_case, HISTORY_TAG, json.dumps(history))
        return entry

    def rollback(self, use_case: str, reason: str, version: str | int | None = None,
                 actor: str = "flywheel") -> dict[str, Any]:  # fmt: skip
        """Return ``champion`` to ``version`` or, by default, to the previous champion."""
        if version is None:
            previous = self.get_alias(use_case, PREVIOUS_CHAMPION)
            if previous is None:
                raise ValueError(f"{use_case} has no previous champion to roll back to")
            version = str(previous.version)
        return self.promote(use_case, version, reason=reason, actor=actor, action="rollback")


class MlflowResource(ConfigurableResource):
    """MLflow tracking and registry for assets (``MLFLOW_TRACKING_URI``; SQLite by default)."""

    tracking_uri: str = Field(
        description="MLflow tracking URI (sqlite:///..., http://mlflow:5000, databricks)."
    )
    registry_uri: str | None = Field(default=None, description="Registry URI when it differs from tracking.")

    def registry(self) -> MlflowRegistry:
        return MlflowRegistry(self.tracking_uri, self.registry_uri or None)
