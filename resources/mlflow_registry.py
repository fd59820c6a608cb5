"""MLflow tracking and model registry, as the model lifecycle uses them.

Conventions (one registered model per use case, named after it):
- alias ``challenger``: the latest trained candidate;
- alias ``champion``: the model that scores the stream;
- alias ``previous-champion``: the champion before the current one (what a rollback returns to).
Every move of ``champion`` is stamped on the version itself (who, when, why, which action) and,
once the alias has moved, appended to a short JSON history kept as a registered-model tag, so the
audit trail survives in MLflow alone. MLflow's tag column holds 5,000 characters on Postgres and
MySQL (SQLite does not check), so that history keeps only the newest entries that fit in
``HISTORY_MAX_CHARS``; the per-version stamps keep the rest. A rollback also stamps the version it
took off the alias (``flywheel.rolled_back_*``), so no automatic promotion brings it back.

MLflow has no compare-and-set on aliases, so every read-check-move of ``champion`` runs under
:meth:`MlflowRegistry.locked`, a file lock per use case: it serializes promotions, rollbacks and
holdout replacements of the processes on one machine (the deployment Flywheel ships).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import threading
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
HISTORY_LIMIT = 40  # entries kept in the tag at most (each version keeps its own stamps forever)
#: The serialized history stays below this many characters: MLflow's tag value column is 5,000.
HISTORY_MAX_CHARS = 4_500
HISTORY_REASON_CHARS = 240
VERSION_TAG_CHARS = 4_000
ROLLED_BACK_AT = "flywheel.rolled_back_at"
ROLLED_BACK_BY = "flywheel.rolled_back_by"
ROLLED_BACK_REASON = "flywheel.rolled_back_reason"
_HELD = threading.local()  # lock files this thread holds, so that a nested ``locked`` does not deadlock


def _clip(text: object, limit: int) -> str:
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bounded_history(
    entries: list[dict[str, Any]], max_chars: int = HISTORY_MAX_CHARS
) -> list[dict[str, Any]]:
    """The newest entries (at most ``HISTORY_LIMIT``, reasons and actors clipped) whose JSON is shorter
    than ``max_chars``: the oldest go first, so the tag can always be written."""
    clipped = [
        {**e, "reason": _clip(e.get("reason"), HISTORY_REASON_CHARS), "actor": _clip(e.get("actor"), 80)}
        for e in entries[-HISTORY_LIMIT:]
    ]
    while clipped and len(json.dumps(clipped)) >= max_chars:
        clipped.pop(0)
    return clipped


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

    # -- locking ----------------------------------------------------------------------------------
    def lock_path(self, use_case: str) -> Path:
        """Beside a SQLite store (its folder is what every process of the deployment shares), else in
        the temporary folder, one per registry URI."""
        if self.registry_uri.startswith("sqlite:///"):
            root = Path(self.registry_uri.removeprefix("sqlite:///")).parent / "locks"
        else:
            digest = hashlib.sha1(self.registry_uri.encode()).hexdigest()[:12]
            root = Path(tempfile.gettempdir()) / "flywheel-registry-locks" / digest
        return root / f"{use_case}.lock"

    @contextmanager
    def locked(self, use_case: str) -> Iterator[None]:
        """Hold the use case's promotion lock (re-entrant within a thread)."""
        path = str(self.lock_path(use_case))
        held: dict[str, int] = _HELD.__dict__.setdefault("held", {})
        if held.get(path):
            held[path] += 1
            try:
                yield
            finally:
                held[path] -= 1
            return
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            held[path] = 1
            try:
                yield
            finally:
                held.pop(path, None)
                fcntl.flock(handle, fcntl.LOCK_UN)

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

    def rolled_back(self, use_case: str, version: str | int) -> dict[str, str] | None:
        """The rollback stamps of ``version`` (``at``, ``by``, ``reason``), or None."""
        tags = self.client.get_model_version(use_case, str(version)).tags or {}
        if ROLLED_BACK_AT not in tags:
            return None
        return {
            "at": tags[ROLLED_BACK_AT],
            "by": tags.get(ROLLED_BACK_BY, ""),
            "reason": tags.get(ROLLED_BACK_REASON, ""),
        }

    def promote(self, use_case: str, version: str | int, reason: str, actor: str = "flywheel",
                action: str = "promote") -> dict[str, Any]:  # fmt: skip
        """Move ``champion`` to ``version``; the outgoing champion becomes ``previous-champion``.

        The history is written only after the alias moved, so it never records a promotion that did
        not happen. A person choosing the version (``manual-promote``, ``rollback``) lifts an earlier
        rollback's refusal of it.
        """
        version = str(version)
        with self.locked(use_case):
            self.client.get_model_version(use_case, version)  # fails clearly on an unknown version
            current = self.get_alias(use_case, CHAMPION)
            now = datetime.now(UTC).isoformat(timespec="seconds")
            current_version = str(current.version) if current is not None else None
            if current_version is not None and current_version != version:
                self.set_alias(use_case, PREVIOUS_CHAMPION, current_version)
            self.set_alias(use_case, CHAMPION, version)
            if current_version is not None and current_version != version:
                self.client.set_model_version_tag(use_case, current_version, "flywheel.demoted_at", now)
            for key, value in {
                "flywheel.promoted_at": now,
                "flywheel.promotion_reason": _clip(reason, VERSION_TAG_CHARS),
                "flywheel.promoted_by": _clip(actor, 200),
                "flywheel.promotion_action": action,
            }.items():
                self.client.set_model_version_tag(use_case, version, key, value)
            if action in ("manual-promote", "rollback"):  # a person chose this version
                tags = self.client.get_model_version(use_case, version).tags or {}
                for key in (ROLLED_BACK_AT, ROLLED_BACK_BY, ROLLED_BACK_REASON):
                    if key in tags:
                        self.client.delete_model_version_tag(use_case, version, key)
            entry = {
                "at": now,
                "action": action,
                "version": version,
                "previous": current_version,
                "reason": reason,
                "actor": actor,
            }
            history = bounded_history(self.history(use_case) + [entry])
            self.client.set_registered_model_tag(use_case, HISTORY_TAG, json.dumps(history))
        return history[-1] if history else entry

    def rollback(self, use_case: str, reason: str, version: str | int | None = None,
                 actor: str = "flywheel") -> dict[str, Any]:  # fmt: skip
        """Return ``champion`` to ``version`` or, by default, to the previous champion.

        The version taken off the alias is stamped as rolled back first, so that no automatic
        champion step can promote it again, even one re-run from an evaluation that passed it.
        """
        with self.locked(use_case):
            if version is None:
                previous = self.get_alias(use_case, PREVIOUS_CHAMPION)
                if previous is None:
                    raise ValueError(f"{use_case} has no previous champion to roll back to")
                version = str(previous.version)
            version = str(version)
            self.client.get_model_version(use_case, version)
            current = self.get_alias(use_case, CHAMPION)
            if current is not None and str(current.version) != version:
                now = datetime.now(UTC).isoformat(timespec="seconds")
                for key, value in {
                    ROLLED_BACK_AT: now,
                    ROLLED_BACK_BY: _clip(actor, 200),
                    ROLLED_BACK_REASON: _clip(reason, VERSION_TAG_CHARS),
                }.items():
                    self.client.set_model_version_tag(use_case, str(current.version), key, value)
            return self.promote(use_case, version, reason=reason, actor=actor, action="rollback")


class MlflowResource(ConfigurableResource):
    """MLflow tracking and registry for assets (``MLFLOW_TRACKING_URI``; SQLite by default)."""

    tracking_uri: str = Field(
        description="MLflow tracking URI (sqlite:///..., http://mlflow:5000, databricks)."
    )
    registry_uri: str | None = Field(default=None, description="Registry URI when it differs from tracking.")

    def registry(self) -> MlflowRegistry:
        return MlflowRegistry(self.tracking_uri, self.registry_uri or None)
