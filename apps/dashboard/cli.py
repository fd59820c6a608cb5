"""``flywheel dashboard``: serve the AI-tweets dashboard over ``<FLYWHEEL_HOME>/tables/tweets``.

The app only reads tables the assets write, so it needs no token; it listens on 127.0.0.1 unless told
otherwise, because exposing it is a deployment decision, not a default.
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
def dashboard_command(host: str, port: int) -> None:
    import uvicorn

    from apps.dashboard.server import create_app
    from apps.dashboard.tables import SCORED_FILE

    folder = tables_dir(get_settings())
    click.echo(f"Dashboard: http://{host}:{port}/  (tables: {folder})")
    if not (folder / SCORED_FILE).exists():
        click.echo("No scored tweets yet: run `flywheel materialize tweets`; the page shows them once there.")
    uvicorn.run(create_app(folder), host=host, port=port, log_level="info")
