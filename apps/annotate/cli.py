"""``flywheel annotate``: serve the annotation page over the configured annotation store.

The token guards every write. Without ``--token`` (or ``FLYWHEEL_ANNOTATE_TOKEN``) a fresh one is
made per start and printed, so a page is never left writable by anyone who finds the port.
Requests must name the page's host: loopback, the ``--host`` it listens on, and the names given with
``--allowed-host`` (or ``FLYWHEEL_ANNOTATE_HOSTS``, comma-separated), e.g. a reverse proxy's.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import click
from starlette.applications import Starlette

from apps.annotate.labelsets import LabelSet, LabelSetError, label_sets_from_store_or_config
from apps.annotate.server import create_app
from apps.web import allowed_hosts, check_token, served_names
from orchestration.settings import Settings, get_settings
from orchestration.use_cases import use_case_names
from resources.annotation_store import AnnotationStore


def label_sets_path(settings: Settings) -> Path:
    """Where labels files uploaded on the page are remembered across restarts."""
    return settings.home / "annotate" / "label_sets.json"


def build_app(
    token: str,
    configured: Mapping[str, LabelSet | Sequence[str]] | None = None,
    multilabel: Iterable[str] = (),
    settings: Settings | None = None,
    hosts: Sequence[str] = (),
) -> Starlette:
    """The app over ``FLYWHEEL_DATABASE_URL``, serving every known use case.

    ``configured`` (for example the classes of each trained champion) wins over labels files
    uploaded earlier, which win over the labels already in the store. ``hosts``: names the page
    answers to besides loopback.
    """
    settings = settings or get_settings()
    store = AnnotationStore(settings.database_url)
    path = label_sets_path(settings)
    label_sets = label_sets_from_store_or_config(
        store, use_case_names(), configured, multilabel, saved_path=path
    )
    roots = [settings.home] + ([] if settings.landing_is_s3 else [Path(settings.landing)])
    return create_app(store, token, label_sets, label_sets_path=path, media_roots=roots, hosts=hosts)


def trained_label_sets(settings: Settings) -> dict[str, LabelSet]:
    """Classes each use case's lifecycle trained on (``lifecycle/<uc>/labels.json``, written by the
    training set asset): what a champion can predict is what annotators may answer."""
    found: dict[str, LabelSet] = {}
    for path in sorted((settings.home / "lifecycle").glob("*/labels.json")):
        data = json.loads(path.read_text())
        found[path.parent.name] = LabelSet(
            path.parent.name, list(data["labels"]), data["task"] == "multilabel"
        )
    return found


def _parse_labels(specs: Iterable[str]) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for spec in specs:
        use_case, sep, names = spec.partition("=")
        if not sep or not use_case.strip():
            raise click.BadParameter(f"{spec!r}: expected USE_CASE=LABEL,LABEL,...", param_hint="--labels")
        parsed[use_case.strip()] = [n.strip() for n in names.split(",") if n.strip()]
    return parsed


@click.command("annotate", help="Serve the annotation page (labels, skip, undo, uploads, downloads).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--token",
    envvar="FLYWHEEL_ANNOTATE_TOKEN",
    default=None,
    help="Token required for writes [env FLYWHEEL_ANNOTATE_TOKEN; default: a new one, printed].",
)
@click.option(
    "--labels",
    "label_specs",
    multiple=True,
    metavar="USE_CASE=A,B,...",
    help="Allowed labels for a use case (repeatable); otherwise uploaded or stored labels are used.",
)
@click.option("--multilabel", multiple=True, metavar="USE_CASE", help="Use cases labelled with lists.")
@click.option(
    "--allowed-host",
    "allowed_host",
    multiple=True,
    envvar="FLYWHEEL_ANNOTATE_HOSTS",
    metavar="HOST[:PORT]",
    help="Another name the page answers to, e.g. behind a proxy (repeatable) "
    "[env FLYWHEEL_ANNOTATE_HOSTS, comma-separated]; loopback and --host always are.",
)
def annotate_command(
    host: str,
    port: int,
    token: str | None,
    label_specs: tuple[str, ...],
    multilabel: tuple[str, ...],
    allowed_host: tuple[str, ...],
) -> None:
    import uvicorn

    if token is not None:
        try:
            check_token(token)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--token") from exc
    generated = token is None
    token = token or secrets.token_urlsafe(24)
    hosts = [*served_names(host), *allowed_host]
    try:
        allowed_hosts(hosts)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--allowed-host") from exc
    try:
        settings = get_settings()
        configured: dict[str, LabelSet | Sequence[str]] = {**trained_label_sets(settings)}
        configured.update(_parse_labels(label_specs))
        app = build_app(token, configured, multilabel, settings, hosts=hosts)
    except LabelSetError as exc:
        raise click.BadParameter(str(exc), param_hint="--labels") from exc
    base = f"http://{host}:{port}"
    click.echo(f"Annotation page: {base}/")
    if generated:
        click.echo(f"Token (new for this run): {token}")
        click.echo(f"Open e.g. {base}/{use_case_names()[0]}#token={token}")
    uvicorn.run(app, host=host, port=port, log_level="info")
