"""``flywheel customers``: serve the customer-service app over the ``sparkify_customers`` database.

It listens on 127.0.0.1 by default and answers loopback, the ``--host`` it listens on and the
``--allowed-host`` names (``FLYWHEEL_CUSTOMERS_HOSTS``). The rows are personal data: give a
``--token`` (``FLYWHEEL_CUSTOMERS_TOKEN``) whenever the app is reachable by anyone else, and open
``http://host:port/#token=<token>``.
"""

from __future__ import annotations

import click


@click.command("customers", help="Serve the customer-service app (search, customer page, at-risk list).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8767, show_default=True, type=click.IntRange(1, 65535))
@click.option("--allowed-host", "allowed_host", multiple=True, envvar="FLYWHEEL_CUSTOMERS_HOSTS",
              metavar="HOST[:PORT]", help="Another name the app answers to (repeatable).")  # fmt: skip
@click.option("--token", default="", envvar="FLYWHEEL_CUSTOMERS_TOKEN",
              help="Required on every API call when set [env FLYWHEEL_CUSTOMERS_TOKEN].")  # fmt: skip
def customers_command(host: str, port: int, allowed_host: tuple[str, ...], token: str) -> None:
    import uvicorn

    from apps.customers.server import create_app
    from apps.web import allowed_hosts, served_names
    from orchestration.settings import get_settings

    hosts = [*served_names(host), *allowed_host]
    try:
        allowed_hosts(hosts)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--allowed-host") from exc
    url = get_settings().database_url
    suffix = f"#token={token}" if token else ""
    click.echo(f"Customers: http://{host}:{port}/{suffix}  (database: {url.split('@')[-1]})")
    uvicorn.run(create_app(url, hosts, token), host=host, port=port, log_level="warning")
