"""``flywheel customers`` serves personal data (issue 22, item 11): reachable from anywhere but
loopback it never runs without a token, a given token is never printed, and a short one is refused."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from apps.customers.cli import customers_command, resolve_token


def test_loopback_alone_needs_no_token() -> None:
    assert resolve_token("127.0.0.1", (), "") == ("", False)


@pytest.mark.parametrize(
    "host, allowed", [("0.0.0.0", ()), ("192.0.2.7", ()), ("127.0.0.1", ("crm.example",))]
)
def test_reachable_from_elsewhere_gets_a_generated_token(host: str, allowed: tuple[str, ...]) -> None:
    token, generated = resolve_token(host, allowed, "")
    assert generated and len(token) >= 24


def test_a_short_token_is_refused() -> None:
    with pytest.raises(click.BadParameter, match="at least 8 characters"):
        resolve_token("0.0.0.0", (), "abc")


def _serve(args: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path) -> tuple[str, str]:
    """Runs the command with uvicorn's server replaced by a recorder of the app it was given."""
    import uvicorn

    served = {}
    monkeypatch.setenv("FLYWHEEL_HOME", str(tmp_path))
    monkeypatch.delenv("FLYWHEEL_CUSTOMERS_TOKEN", raising=False)
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.setdefault("token", app.state.token))
    result = CliRunner().invoke(customers_command, args)
    assert result.exit_code == 0, result.output
    return result.output, served["token"]


def test_the_command_guards_a_public_bind_and_prints_only_a_generated_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    output, token = _serve(["--host", "0.0.0.0", "--allowed-host", "crm.example"], monkeypatch, tmp_path)
    assert token and token in output  # generated: shown once so that it can be used
    given = "s3cret-given-token"
    output, token = _serve(
        ["--host", "0.0.0.0", "--allowed-host", "crm.example", "--token", given], monkeypatch, tmp_path
    )
    assert token == given and given not in output
