"""The ``flywheel`` command: embedded infrastructure, materializing use cases, model overrides."""

from __future__ import annotations

import os
import sys

import click

from orchestration.infra.kafka_broker import InfraError, KafkaBroker
from orchestration.settings import USE_CASES, export_defaults, get_settings


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
def infra_up(timeout: float) -> None:
    settings = export_defaults()
    try:
        KafkaBroker(settings).start(timeout=timeout, log=click.echo)
    except InfraError as exc:
        _fail(str(exc))


@infra.command("down", help="Stop the broker started by `infra up` (only that process).")
def infra_down() -> None:
    try:
        KafkaBroker(get_settings()).stop(log=click.echo)
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


# -- materialize ---------------------------------------------------------------------------------
@main.command(help="Run use cases' whole graphs (default: all built) through the Dagster instance.")
@click.argument("use_cases", nargs=-1)
def materialize(use_cases: tuple[str, ...]) -> None:
    settings = export_defaults()
    os.environ.setdefault("DAGSTER_HOME", str(settings.dagster_home))
    from dagster import DagsterInstance

    from orchestration.definitions import build_definitions, use_case_definitions
    from orchestration.materialize import format_summary, materialize_use_case

    built = list(use_case_definitions())
    unknown = [u for u in use_cases if u not in USE_CASES]
    if unknown:
        _fail(f"unknown use case(s) {', '.join(unknown)}; known: {', '.join(USE_CASES)}")
    missing = [u for u in use_cases if u not in built]
    if missing:
        _fail(f"use case(s) not built yet: {', '.join(missing)}; built: {', '.join(built) or 'none'}")
    selected = list(use_cases) or built
    if not selected:
        click.echo("no use cases are built yet; nothing to materialize")
        return
    defs = build_definitions()
    instance = DagsterInstance.get()
    summaries = []
    for use_case in selected:
        click.echo(f"materializing {use_case} ...")
        summaries.append(materialize_use_case(use_case, defs, instance))
    click.echo("")
    click.echo(format_summary(summaries))
    if any(s.failed_runs for s in summaries):
        sys.exit(1)


if __name__ == "__main__":
    main()
