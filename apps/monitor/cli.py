"""``flywheel monitor``: serve the monitoring pages over ``<FLYWHEEL_HOME>/monitoring``.

The pages only read files other parts of Flywheel write, so they need no token; they listen on
127.0.0.1 unless told otherwise, because exposing them is a deployment decision, not a default. They
answer requests for loopback, the ``--host`` they listen on and ``--allowed-host`` names
(``FLYWHEEL_MONITOR_HOSTS``).
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("monitor", help="Serve the monitoring pages (live metric, drift, lag, label efficiency).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8768, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Flywheel home whose monitoring/ folder is read [default: FLYWHEEL_HOME from the settings].",
)
@click.option(
    "--allowed-host",
    "allowed_host",
    multiple=True,
    envvar="FLYWHEEL_MONITOR_HOSTS",
    metavar="HOST[:PORT]",
    help="Another name the pages answer to, e.g. behind a proxy (repeatable) "
    "[env FLYWHEEL_MONITOR_HOSTS, comma-separated]; loopback and --host always are.",
)
def monitor_command(host: str, port: int, home: Path | None, allowed_host: tuple[str, ...]) -> None:
    import uvicorn

    from apps.monitor.data import MONITORING
    from apps.monitor.server import create_app
    from apps.web import allowed_hosts, served_names
    from orchestration.settings import get_settings
    from orchestration.use_cases import use_case_names

    hosts = [*served_names(host), *allowed_host]
    try:
        allowed_hosts(hosts)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--allowed-host") from exc
    home = home if home is not None else get_settings().home
    names = use_case_names()
    click.echo(f"Monitoring: http://{host}:{port}/  (files: {home / MONITORING})")
    if not (home / MONITORING).is_dir():
        click.echo("No monitoring files yet: they appear once a champion scores batches.")
    uvicorn.run(create_app(home, names, hosts), host=host, port=port, log_level="info")
