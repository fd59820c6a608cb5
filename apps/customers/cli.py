"""``flywheel customers``: serve the customer-service app over the ``sparkify_customers`` database.

It listens on 127.0.0.1 by default and answers loopback, the ``--host`` it listens on and the
``--allowed-host`` names (``FLYWHEEL_CUSTOMERS_HOSTS``). The rows are personal data, so whenever the
app is reachable by anyone else (a bind address other than loopback, or any allowed host name) every
API call needs a token: ``--token`` (``FLYWHEEL_CUSTOMERS_TOKEN``, at least 8 characters, never
printed) or, without one, a fresh token generated for the run and printed once. Open
``http://host:port/#token=<token>``.
"""

from __future__ import annotations

import secrets

import click

#: Bind addresses only this machine reaches (``apps.web.LOOPBACK_HOSTS`` plus bare ``::1``).
LOOPBACK_BINDS = ("127.0.0.1", "localhost", "::1", "[::1]")


def resolve_token(host: str, allowed_host: tuple[str, ...], token: str) -> tuple[str, bool]:
    """``(token, generated)``: the given token (checked), a generated one when the app is reachable
    from elsewhere and none was given, or "" (no token) on loopback alone."""
    from apps.web import check_token

    if token:
        try:
            return check_token(token), False
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--token") from exc
    exposed = host.strip().lower() not in LOOPBACK_BINDS or any(h.strip() for h in allowed_host)
    return (secrets.token_urlsafe(24), True) if exposed else ("", False)


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
    token, generated = resolve_token(host, allowed_host, token)
    url = get_settings().database_url
    # Only a secret made here is shown; one that was given stays out of terminals and logs.
    suffix = f"#token={token}" if generated else ("#token=<your token>" if token else "")
    click.echo(f"Customers: http://{host}:{port}/{suffix}  (database: {url.split('@')[-1]})")
    if generated:
        click.echo(f"Token (new for this run; --token or FLYWHEEL_CUSTOMERS_TOKEN to choose one): {token}")
    uvicorn.run(create_app(url, hosts, token), host=host, port=port, log_level="warning")
