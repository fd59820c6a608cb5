"""The ``flywheel`` command: embedded infrastructure, materializing use cases, model overrides."""

from __future__ import annotations

import os
import sys

import click

from orchestration.infra.kafka_broker import InfraError, KafkaBroker, KafkaCluster
from orchestration.scaffold import KINDS
from orchestration.settings import export_defaults, get_settings
from orchestration.use_cases import use_case_names


def _fail(message: str) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(1)


@click.group(help="Flywheel: streaming classifiers with active learning on a Dagster asset graph.")
def main() -> None:
    pass


# -- infra -------------------------------------------------------------------------------------
@main.group(help="The embedded infrastructure (a single-node Apache Kafka broker in KRaft mode).")
def infra() -> None:
    pass


@infra.command("up", help="Resolve Kafka from Maven Central (once), format KRaft storage, start the broker.")
@click.option("--timeout", default=90.0, show_default=True, help="Seconds to wait for the broker to answer.")
@click.option(
    "--postgres", is_flag=True, help="Also start Postgres under FLYWHEEL_HOME/postgres and print its URLs."
)
@click.option(
    "--brokers",
    type=click.IntRange(1, 9),
    default=None,
    help="Kafka brokers (KRaft, one quorum, consecutive ports); default FLYWHEEL_KAFKA_BROKERS or 1.",
)
@click.option(
    "--spark-workers",
    type=click.IntRange(0, 8),
    default=0,
    help="Also start a Spark standalone master and this many workers; prints SPARK_MASTER.",
)
def infra_up(timeout: float, postgres: bool, brokers: int | None, spark_workers: int) -> None:
    settings = export_defaults()
    try:
        cluster = KafkaCluster(settings, size=brokers)
        if cluster.size == 1:
            KafkaBroker(settings).start(timeout=timeout, log=click.echo)
        else:
            bootstrap = cluster.start(timeout=max(timeout, 120.0), log=click.echo)
            click.echo(f"  export KAFKA_BOOTSTRAP_SERVERS={bootstrap}")
        if postgres:
            _postgres_up(settings)
        if spark_workers:
            _spark_up(settings, spark_workers)
    except InfraError as exc:
        _fail(str(exc))


def _spark_up(settings, workers: int) -> None:
    from orchestration.infra.spark_cluster import SparkStandalone

    master = SparkStandalone(settings).start(workers=workers, log=click.echo)
    click.echo(f"  export SPARK_MASTER={master}")


def _postgres_up(settings) -> None:
    from orchestration.infra.postgres import PostgresServer

    server = PostgresServer(settings)
    server.start(log=click.echo)
    click.echo("Point the stores at it (Dagster instance, MLflow backend, annotations and customers):")
    for name, value in server.environment().items():
        click.echo(f"  export {name}={value}")


@infra.command("down", help="Stop what `infra up` started (only those processes).")
def infra_down() -> None:
    from orchestration.infra.postgres import PostgresServer
    from orchestration.infra.spark_cluster import SparkStandalone

    settings = get_settings()
    try:
        cluster = KafkaCluster(settings)
        if cluster.layout is not None:
            cluster.stop(log=click.echo)
        KafkaBroker(settings).stop(log=click.echo)
        SparkStandalone(settings).stop(log=click.echo, quiet=True)
        server = PostgresServer(settings)
        if server.initialised:
            server.stop(log=click.echo)
    except InfraError as exc:
        _fail(str(exc))


@infra.command("status", help="Print every configured endpoint and whether it answers.")
def infra_status() -> None:
    from orchestration.infra.endpoints import endpoint_statuses

    settings = get_settings()
    click.echo(f"FLYWHEEL_HOME {settings.home}")
    for status in endpoint_statuses(settings):
        mark = click.style("up  ", fg="green") if status.ok else click.style("down", fg="red")
        click.echo(f"{mark}  {status.name:<9} {status.target}  ({status.detail})")


# -- use cases -----------------------------------------------------------------------------------
@main.command("use-cases", help="List the use cases found under assets/ (a package whose definitions.py "
              "declares a UseCase), with their ingest, jobs, topic and metric.")  # fmt: skip
def use_cases_list() -> None:
    from orchestration.use_cases import load_use_cases

    settings = get_settings()
    for name, declared in load_use_cases().items():
        ingest = declared.ingest.kind
        topic = settings.topic(name, declared.loop.topic_kind) if declared.loop else "-"
        click.echo(f"{name:<12} ingest={ingest:<8} topic={topic:<20} metric={declared.spec.primary_metric}")
        if declared.summary:
            click.echo(f"{'':<12} {declared.summary}")


@main.command("new", help="Scaffold a new use case in assets/USE_CASE/ (and docs/use-cases/USE_CASE.md): "
              "definitions, parsing stub, labeling functions (text), record schema, a test.")  # fmt: skip
@click.argument("use_case")
@click.option("--kind", type=click.Choice(KINDS), default="text",
              show_default=True, help="What a record is: a text (one class, or several labels), a row of "
              "numbers, a window of a signal, or an image.")  # fmt: skip
@click.option(
    "--root", default=None, type=click.Path(file_okay=False), help="Project root (default: this one)."
)
def new(use_case: str, kind: str, root: str | None) -> None:
    from orchestration.scaffold import ScaffoldError, scaffold

    try:
        written = scaffold(use_case, kind, root)
    except ScaffoldError as exc:
        _fail(str(exc))
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(
        f"next: land a CSV under <landing>/{use_case}/ (see docs/use-cases/{use_case}.md), then "
        f"`flywheel materialize {use_case}`"
    )


# -- materialize ---------------------------------------------------------------------------------
@main.command(help="Run use cases' whole graphs (default: all built) through the Dagster instance.")
@click.argument("use_cases", nargs=-1)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Every log (Dagster, Spark, MLflow, warnings) on the terminal instead of FLYWHEEL_HOME/logs/.",
)
@click.option("--force", is_flag=True, help="Run use cases whose landed files and code are unchanged, too.")
def materialize(use_cases: tuple[str, ...], verbose: bool, force: bool) -> None:
    """One line per finished asset or check on the terminal; the rest goes to a log file."""
    settings = export_defaults()
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    known = use_case_names()
    unknown = [u for u in use_cases if u not in known]
    if unknown:
        _fail(f"unknown use case(s) {', '.join(unknown)}; known: {', '.join(known)}")
    from orchestration.console import materialize_console

    code = 0
    # Imports inside: Dagster, Spark, MLflow and GX warn as they load, and that belongs in the log.
    with materialize_console(settings.home, verbose=verbose) as console:
        try:
            from orchestration.materialize import materialize_selected

            # Dagster logs its events at DEBUG: all of them in the log file, INFO up with --verbose.
            code = materialize_selected(list(use_cases), console, "INFO" if verbose else "DEBUG", force)
        except KeyboardInterrupt:
            console.error("interrupted")
            code = 130
        except Exception as exc:  # noqa: BLE001 - the traceback goes to the log, its gist to the terminal
            import traceback

            traceback.print_exc()
            lines = str(exc).strip().splitlines()
            console.error(f"error: {type(exc).__name__}: {lines[0] if lines else ''}")
            code = 1
    if code:
        sys.exit(code)


# -- simulate / generate ------------------------------------------------------------------------
@main.command(help="Publish generated records to a use case's topic (<uc>.records), as devices would.")
@click.argument("use_case")
@click.option("--count", default=1000, show_default=True, type=click.IntRange(min=1), help="Records to send.")
@click.option("--rate", default=None, type=click.FloatRange(min=0, min_open=True), help="Records per second.")
@click.option("--seed", default=0, show_default=True, help="Same seed, same records.")
@click.option("--poison-share", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of malformed messages mixed in (tests the dead-letter path).")  # fmt: skip
@click.option("--from", "source", default=None, type=click.Path(exists=True, file_okay=False),
              help="Publish records read from this folder (gravityspy: PNGs, landing layout).")  # fmt: skip
def simulate(
    use_case: str, count: int, rate: float | None, seed: int, poison_share: float, source: str | None
) -> None:
    from orchestration.simulate import simulate as run_simulation

    settings = export_defaults()
    try:
        report = run_simulation(
            settings, use_case, count, rate, seed, poison_share, log=click.echo, source=source
        )
    except ValueError as exc:
        _fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - broker errors are shown, not traced
        where = settings.kafka_bootstrap_servers
        _fail(f"could not publish to Kafka at {where}: {exc} (is `flywheel infra up` done?)")
    click.echo(
        f"sent {report.sent} records to {report.topic} ({report.poison} poison) in {report.seconds:.1f}s "
        f"= {report.rate:.0f}/s"
    )


class _UseCaseGenerators(click.Group):
    """``flywheel generate <uc>``: each use case's generator command, as its ``UseCase`` declares it."""

    def _generators(self) -> dict[str, str]:
        from orchestration.use_cases import load_use_cases

        return {name: uc.generator for name, uc in load_use_cases().items() if uc.generator}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self._generators())

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from assets.lazy import resolve

        reference = self._generators().get(cmd_name)
        return resolve(reference) if reference else None


@main.group(
    cls=_UseCaseGenerators,
    help="Generate data at scale in a use case's real landing format (for benchmarks).",
)
def generate() -> None:
    pass


# -- serve ---------------------------------------------------------------------------------------
@main.command(help="Serve a one-machine deployment in the foreground: Kafka (unless one answers), "
              "a code server, dagster-webserver, dagster-daemon. Ctrl-C stops all it started.")  # fmt: skip
@click.option("--host", default="127.0.0.1", show_default=True, help="Host the Dagster UI listens on.")
@click.option("--port", default=3000, show_default=True, type=click.IntRange(1, 65535),
              help="Dagster UI port.")  # fmt: skip
@click.option("--sensors", type=click.Choice(["on", "off"]), default=None,
              help="on: every sensor runs by default (FLYWHEEL_SENSORS=on). "
                   "Default: FLYWHEEL_SENSORS, else off.")  # fmt: skip
@click.option("--code-server-port", default=None, type=click.IntRange(1, 65535),
              help="Port of the code server on 127.0.0.1 (default: a free one).")  # fmt: skip
def serve(host: str, port: int, sensors: str | None, code_server_port: int | None) -> None:
    from orchestration.serve import serve as run_server

    sensors_on = None if sensors is None else sensors == "on"
    sys.exit(run_server(host, port, sensors_on, code_server_port, log=click.echo))


# -- models --------------------------------------------------------------------------------------
@main.group(help="Registered models: list versions and aliases; promote or roll back by hand (audited).")
def models() -> None:
    pass


def _registry():
    from resources.mlflow_registry import MlflowRegistry

    return MlflowRegistry(export_defaults().mlflow_tracking_uri)


def _actor() -> str:
    return os.environ.get("FLYWHEEL_ACTOR") or os.environ.get("USER") or "unknown"


@models.command("list", help="Versions of a use case's model (default: all) with aliases and metrics.")
@click.argument("use_cases", nargs=-1)
def models_list(use_cases: tuple[str, ...]) -> None:
    registry = _registry()
    for use_case in use_cases or use_case_names():
        versions = registry.versions(use_case)
        if not versions:
            if use_cases:
                click.echo(f"{use_case}: no registered versions")
            continue
        aliases: dict[str, list[str]] = {}
        for alias, version in registry.aliases_of(use_case).items():
            aliases.setdefault(version, []).append(alias)
        click.echo(f"{use_case}")
        for v in versions:
            tags = v.tags or {}
            metric = tags.get("flywheel.primary_metric", "metric")
            value = tags.get("flywheel.primary_metric_value")
            shown = f"holdout {metric}={float(value):.4f}" if value else "not evaluated"
            marks = ",".join(sorted(aliases.get(str(v.version), []))) or "-"
            click.echo(f"  v{v.version:<4} {marks:<30} {tags.get('trainer', '?'):<28} {shown}")
        for entry in registry.history(use_case)[-5:]:  # the newest champion moves (reasons clipped)
            was = f"v{entry['previous']}" if entry.get("previous") else "none"
            click.echo(f"    {entry['at']} {entry['action']} v{entry['version']} (was {was}) "
                       f"by {entry['actor']}: {entry['reason']}")  # fmt: skip


@models.command("promote", help="Make a version the champion by hand, bypassing the gate (audited).")
@click.argument("use_case")
@click.option("--version", "version", required=True, help="Version to promote.")
@click.option("--reason", required=True, help="Why: recorded on the version and in the champion history.")
def models_promote(use_case: str, version: str, reason: str) -> None:
    try:
        entry = _registry().promote(use_case, version, reason=reason, actor=_actor(), action="manual-promote")
    except Exception as exc:  # noqa: BLE001 - shown to the user
        _fail(str(exc))
    was = f"v{entry['previous']}" if entry.get("previous") else "none"
    click.echo(f"{use_case}: champion is now v{entry['version']} (was {was})")


@models.command("rollback", help="Return the champion to the previous one (or to --version). The version "
                "taken off is marked rolled back: no automatic promotion brings it back.")  # fmt: skip
@click.argument("use_case")
@click.option("--version", "version", default=None, help="Version to return to (default: previous champion).")
@click.option("--reason", required=True, help="Why: recorded on the version and in the champion history.")
def models_rollback(use_case: str, version: str | None, reason: str) -> None:
    try:
        entry = _registry().rollback(use_case, reason=reason, version=version, actor=_actor())
    except Exception as exc:  # noqa: BLE001
        _fail(str(exc))
    click.echo(f"{use_case}: rolled back to v{entry['version']} (was v{entry['previous']})")


def _register_apps() -> None:
    from apps.annotate.cli import annotate_command
    from apps.dashboard.cli import dashboard_command

    main.add_command(annotate_command)
    main.add_command(dashboard_command)
    from apps.customers.cli import customers_command

    main.add_command(customers_command)
    from apps.monitor.cli import monitor_command

    main.add_command(monitor_command)


_register_apps()

if __name__ == "__main__":
    main()
