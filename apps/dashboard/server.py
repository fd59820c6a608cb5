"""The AI-tweets dashboard and its JSON API, as one read-only Starlette app over the tweets tables.

Business users open ``/`` to see which tweets the champion called AI, the links they carry, and which
sites those links point to. The page (``static/``) is plain HTML, CSS and JavaScript that asks the API
below, so the page and any other client see the same numbers through the same checks. Nothing is
written and nothing needs a token: the tables hold public tweets and derived scores only.

Filters (query parameters, all optional; anything else is 422):

``min_probability``
    a number in [0, 1]: tweets with ``probability_ai >= min_probability``. Without it, the AI
    tweets are the ones the model itself predicted as AI (``prediction == 1``), whatever its
    threshold; with it, the user sets their own cut-off above or below the model's.
``since``, ``until``
    ISO dates ``YYYY-MM-DD``, UTC days, both ends included; ``since`` after ``until`` is 422.

Errors are JSON ``{"error": "<message>", "detail": <optional>}``: 400 a request addressed to a host the
dashboard does not serve (anything but 127.0.0.1, localhost or [::1] at its port, and the configured
``hosts``: DNS-rebinding protection, see :mod:`apps.web`), 422 bad input, 503 a table exists but
cannot be read (for example while an asset rewrites it; the next request reads it again).

``GET /api/health``
    ``{"status": "ok", "tables": {"scored_tweets": bool, "links": bool}}``
``GET /api/tweets?min_probability=&since=&until=&limit=200`` (limit 1..1000)
    ``{"ready", "message", "filters", "count", "returned", "scored", "range": {"first", "last"},
    "tweets": [{"id", "created_at", "user", "text", "probability_ai", "prediction", "model_version",
    "links": [{"url", "domain"}]}]}``, newest first; ``count`` is every match, ``returned`` those sent
    (at most ``limit``); ``scored`` all scored tweets and ``range`` their first and last day.
``GET /api/domains?min_probability=&since=&until=&top=10`` (top 1..100)
    ``{"ready", "message", "filters", "tweets", "domains": [{"domain", "tweets", "links"}]}``: the
    sites the filtered tweets link to (all of them, not just the first ``limit``), by how many tweets
    link there; Twitter's own domains are left out. So the chart always follows the table's filters.

Before the scoring asset has run, both data routes answer 200 with ``ready: false``, no rows and
``message`` = "no scored tweets yet: run flywheel materialize tweets", which the page shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from apps.dashboard.tables import EMPTY_MESSAGE, Filters, TableError, Tables, select, top_domains, tweet_json
from apps.web import HostCheck, SecurityHeaders, allowed_hosts, security_headers

STATIC = Path(__file__).parent / "static"
DEFAULT_LIMIT, MAX_LIMIT = 200, 1000
DEFAULT_TOP, MAX_TOP = 10, 100
_FILTER_PARAMS = frozenset({"min_probability", "since", "until"})
_SECURITY_HEADERS = security_headers(
    "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)


class ApiError(Exception):
    """An error the API returns as ``{"error": message, "detail": ...}`` with its status code."""

    def __init__(self, status: int, message: str, detail: Any = None):
        super().__init__(message)
        self.status, self.message, self.detail = status, message, detail


def _probability(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(422, "min_probability must be a number", {"min_probability": raw}) from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ApiError(422, "min_probability must be between 0 and 1", {"min_probability": raw})
    return value


def _date(name: str, raw: str) -> date:
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, f"{name} must be a date as YYYY-MM-DD", {name: raw}) from None


def _bounded_int(name: str, raw: str | None, default: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(422, f"{name} must be a whole number", {name: raw}) from None
    if not 1 <= value <= high:
        raise ApiError(422, f"{name} must be between 1 and {high}", {name: raw})
    return value


def parse_filters(params: Mapping[str, str], extra: frozenset[str]) -> Filters:
    """Filters from a query string; unknown names are refused so a typo (``min_prob``) is not
    silently ignored and mistaken for an empty result."""
    unknown = sorted(set(params) - _FILTER_PARAMS - extra)
    if unknown:
        allowed = sorted(_FILTER_PARAMS | extra)
        raise ApiError(422, f"unknown parameter(s): {', '.join(unknown)}", {"allowed": allowed})
    raw_min = params.get("min_probability", "")
    since = _date("since", params["since"]) if params.get("since") else None
    until = _date("until", params["until"]) if params.get("until") else None
    if since and until and since > until:
        raise ApiError(422, "since must not be after until", {"since": str(since), "until": str(until)})
    return Filters(_probability(raw_min) if raw_min != "" else None, since, until)


def _tweets_body(tables: Tables, filters: Filters, limit: int) -> dict[str, Any]:
    frame = tables.frame()
    base = {"filters": {**filters.as_json(), "limit": limit}}
    if frame is None:
        return {
            **base,
            "ready": False,
            "message": EMPTY_MESSAGE,
            "count": 0,
            "returned": 0,
            "scored": 0,
            "range": {"first": None, "last": None},
            "tweets": [],
        }
    chosen = select(frame, filters)
    rows = [tweet_json(row) for row in chosen.head(limit).to_dict("records")]
    first = frame["created_at"].min() if len(frame) else None
    last = frame["created_at"].max() if len(frame) else None
    return {
        **base,
        "ready": True,
        "message": "" if len(frame) else "the scored table is empty",
        "count": len(chosen),
        "returned": len(rows),
        "scored": len(frame),
        "range": {
            "first": first.date().isoformat() if first is not None else None,
            "last": last.date().isoformat() if last is not None else None,
        },
        "tweets": rows,
    }


def _domains_body(tables: Tables, filters: Filters, top: int) -> dict[str, Any]:
    frame = tables.frame()
    base = {"filters": {**filters.as_json(), "top": top}}
    if frame is None:
        return {**base, "ready": False, "message": EMPTY_MESSAGE, "tweets": 0, "domains": []}
    chosen = select(frame, filters)
    return {**base, "ready": True, "message": "", "tweets": len(chosen), "domains": top_domains(chosen, top)}


async def _read(request: Request, work: Callable[[], dict[str, Any]]) -> JSONResponse:
    try:
        body = await run_in_threadpool(work)  # Parquet decoding must not stall the event loop
    except TableError as exc:
        raise ApiError(503, str(exc)) from exc
    return JSONResponse(body, headers={"cache-control": "no-store"})


async def tweets(request: Request) -> Response:
    params = request.query_params
    filters = parse_filters(params, frozenset({"limit"}))
    limit = _bounded_int("limit", params.get("limit"), DEFAULT_LIMIT, MAX_LIMIT)
    return await _read(request, lambda: _tweets_body(request.app.state.tables, filters, limit))


async def domains(request: Request) -> Response:
    params = request.query_params
    filters = parse_filters(params, frozenset({"top"}))
    top = _bounded_int("top", params.get("top"), DEFAULT_TOP, MAX_TOP)
    return await _read(request, lambda: _domains_body(request.app.state.tables, filters, top))


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "tables": request.app.state.tables.present()})


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    body = {"error": exc.message} if exc.detail is None else {"error": exc.message, "detail": exc.detail}
    return JSONResponse(body, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    return Response(f"{exc.status_code} {exc.detail}", status_code=exc.status_code, media_type="text/plain")


def create_app(tables_dir: Path, hosts: Sequence[str] = ()) -> Starlette:
    """The dashboard over ``tables_dir`` (``<FLYWHEEL_HOME>/tables/tweets``), which may not exist yet:
    the page then shows how to produce the tables instead of failing. ``hosts`` are names it answers
    to besides loopback (``name`` or ``name:port``)."""
    routes = [
        Route("/api/health", health),
        Route("/api/tweets", tweets),
        Route("/api/domains", domains),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/", index),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders, headers=_SECURITY_HEADERS),
            Middleware(HostCheck, hosts=allowed_hosts(hosts)),
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    app.state.tables = Tables(Path(tables_dir))
    return app
