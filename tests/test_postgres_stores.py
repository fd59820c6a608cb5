"""The embedded Postgres (``flywheel infra up --postgres``) behind each store that can use it: the
annotation store, MLflow's backend (artifacts still in the artifact root) and the Dagster instance
(the shipped ``dagster.yaml`` in its Postgres form). One real server for the session."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestration.infra.postgres import PostgresServer
from orchestration.settings import Settings, export_defaults
from resources.annotation_store import AnnotationStore


def test_annotation_store_round_trip_on_postgres(postgres_url: str) -> None:
    store = AnnotationStore(postgres_url)
    samples = [{"sample_id": f"pg-{i}", "payload": {"text": f"t{i}"}, "score": i / 10} for i in range(3)]
    assert store.enqueue("activity", samples) == 3
    assert store.enqueue("activity", samples) == 0  # re-queuing never duplicates, on Postgres too
    store.add_label("activity", "pg-2", "walking", annotator="ana")
    assert {row["sample_id"]: row["label"] for row in store.labels("activity")} == {"pg-2": "walking"}
    with sa.create_engine(postgres_url).connect() as conn:
        assert conn.execute(sa.text("select version()")).scalar().startswith("PostgreSQL")


def test_mlflow_backend_on_postgres_keeps_artifacts_in_the_artifact_root(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    uri = postgres_server.create_database("mlflow_store_test")
    client = MlflowClient(tracking_uri=uri)
    artifacts = tmp_path / "artifacts"
    experiment = client.create_experiment("pg", artifact_location=artifacts.as_uri())
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "macro_f1", 0.5)
    note = tmp_path / "note.txt"
    note.write_text("hello")
    client.log_artifact(run.info.run_id, str(note))
    client.set_terminated(run.info.run_id)

    assert client.get_run(run.info.run_id).data.metrics == {"macro_f1": 0.5}
    assert list(artifacts.rglob("note.txt")), "artifacts belong in the artifact root, not in Postgres"
    with sa.create_engine(uri).connect() as conn:
        assert conn.execute(sa.text("select count(*) from metrics where key = 'macro_f1'")).scalar() == 1


def test_dagster_instance_on_postgres(
    postgres_server: PostgresServer, flywheel_env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import DagsterInstance, asset, materialize

    url = postgres_server.create_database("dagster_instance_test")  # a bare postgresql:// URL
    monkeypatch.setenv("FLYWHEEL_DAGSTER_DATABASE_URL", url)
    settings = export_defaults()  # names the psycopg2 driver dagster-postgres needs
    text = (settings.dagster_home / "dagster.yaml").read_text()
    # The URL (which may carry a password) is read from the environment, never written to disk.
    assert "env: FLYWHEEL_DAGSTER_DATABASE_URL" in text and "127.0.0.1" not in text

    @asset
    def one() -> int:
        return 1

    instance = DagsterInstance.from_config(str(settings.dagster_home))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert materialize([one], instance=instance).success
    finally:
        instance.dispose()
    with sa.create_engine(url).connect() as conn:
        assert conn.execute(sa.text("select count(*) from runs where status = 'SUCCESS'")).scalar() == 1
    assert not list(settings.dagster_home.rglob("*.db")), "no SQLite storage beside Postgres"


def test_the_embedded_server_asks_for_its_generated_password(postgres_server: PostgresServer) -> None:
    """Issue 22 (13): the embedded cluster was initialised ``--auth=trust``, so any local user could
    connect as the superuser. It now asks for a password (scram-sha-256), kept in a 0600 file."""
    import stat

    import psycopg2

    assert stat.S_IMODE(postgres_server.password_file.stat().st_mode) == 0o600
    assert len(postgres_server.password()) >= 24
    with pytest.raises(psycopg2.OperationalError, match="password"):
        psycopg2.connect(host="127.0.0.1", port=postgres_server.port(), user="flywheel", dbname="postgres")
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(
            host="127.0.0.1",
            port=postgres_server.port(),
            user="flywheel",
            password="guess",
            dbname="postgres",
        )
    postgres_server.connect().close()  # with the generated one it connects
