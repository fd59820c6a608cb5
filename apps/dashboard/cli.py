"""``flywheel dashboard``: serve the AI-tweets dashboard over ``<FLYWHEEL_HOME>/tables/tweets``.

The app only reads tables the assets write, so it needs no token; it listens on 127.0.0.1 unless told
otherwise, because exposing it is a deployment decision, not a default. It answers requests for
loopback, the ``--host`` it listens on and ``--allowed-host`` names (``FLYWHEEL_DASHBOARD_HOSTS``).
"""

from __future__ import annotations

from pathlib import Path

import click

from orchestration.settings import Settings, get_settings


def tables_dir(settings: Settings) -> Path:
    """Where the tweets assets write ``scored_tweets.parquet`` and ``links.parquet``."""
    return settings.home / "tables" / "tweets"


@click.command("dashboard", help="Serve the AI-tweets dashboard (tweets, links, top domains).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8766, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--allowed-host",
    "allowed_host",
    multiple=True,
    envvar="FLYWHEEL_DASHBOARD_HOSTS",
    metavar="HOST[:PORT]",
    help="Another name the dashboard answers to, e.g. behind a proxy (repeatable) "
    "[env FLYWHEEL_DASHBOARD_HOSTS, comma-separated]; loopback and --host always are.",
)
def dashboard_command(host: str, port: int, allowed_host: tuple[str, ...]) -> None:
    import uvicorn

    from apps.dashboard.server import create_app
    from apps.dashboard.tables import SCORED_FILE
    from apps.web import allowed_hosts, served_names

    hosts = [*served_names(host), *allowed_host]
    try:
        allowed_hosts(hosts)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--allowed-host") from exc
    folder = tables_dir(get_settings())
    click.echo(f"Dashboard: http://{host}:{port}/  (tables: {folder})")
    if not (folder / SCORED_FILE).exists():
        click.echo("No scored tweets yet: run `flywheel materialize tweets`; the page shows them once there.")
    uvicorn.run(create_app(folder, hosts), host=host, port=port, log_level="info")
