"""The customer-service app: search customers, a customer's page, and the at-risk list, as one
read-only Starlette app over the ``sparkify_customers`` database (``FLYWHEEL_DATABASE_URL``).

Security habits of the other pages (:mod:`apps.web`): a Host check against DNS rebinding, strict
security headers (CSP without inline script), text inserted as text. The rows are personal data
(names, locations), so when a token is configured every API call must carry it
(``Authorization: Bearer <token>`` or ``X-Flywheel-Token``; the page takes it from ``#token=`` in its
address and never puts it in a URL it requests).

``GET /api/health`` → ``{"status": "ok", "customers": n}``
``GET /api/search?q=`` → ``{"customers": [...]}`` (id exact or name contains, riskiest first, 50 at most)
``GET /api/customers/<id>`` → ``{"customer": {...}, "activity": [{"day", "events", "songs"}]}`` (404 unknown)
``GET /api/at-risk?level=&state=&min_risk=&max_risk=&limit=`` → ``{"customers": [...], "states": [...]}``

Errors are JSON ``{"error": message}``: 400 wrong Host, 401 missing token, 404, 422 bad input, 503
no database yet.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from apps.web import HostCheck, SecurityHeaders, allowed_hosts, security_headers

STATIC = Path(__file__).parent / "static"
_SECURITY_HEADERS = security_headers(
    "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
LIST_COLUMNS = ("user_id", "name", "level", "state", "location", "churn_probability", "prediction",
                "events", "songs", "last_ts", "cancelled")  # fmt: skip


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _clean(value.item())
    return value


def _rows(frame: Any, columns: Sequence[str] = LIST_COLUMNS) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    return [{c: _clean(r.get(c)) for c in columns} for r in frame.to_dict("records")]


def _number(params: Any, name: str, default: float) -> float:
    raw = params.get(name, "")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(422, f"{name} must be a number") from None
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ApiError(422, f"{name} must be between 0 and 1")
    return value


def _check_token(request: Request) -> None:
    expected = request.app.state.token
    if not expected:
        return
    header = request.headers.get("authorization", "")
    given = (
        header[7:] if header.lower().startswith("bearer ") else request.headers.get("x-flywheel-token", "")
    )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "a valid token is required (Authorization: Bearer <token>)")


async def _call(request: Request, work) -> JSONResponse:
    from sqlalchemy.exc import SQLAlchemyError

    _check_token(request)
    try:
        body = await run_in_threadpool(work)
    except SQLAlchemyError as exc:
        raise ApiError(
            503, f"no customer database yet (run flywheel materialize sparkify): {type(exc).__name__}"
        ) from exc
    return JSONResponse(body, headers={"cache-control": "no-store"})


async def health(request: Request) -> Response:
    from assets.sparkify import customers as db

    return await _call(request, lambda: {"status": "ok", "customers": db.count(request.app.state.url)})


async def search(request: Request) -> Response:
    from assets.sparkify import customers as db

    query = request.query_params.get("q", "").strip()
    if not query or len(query) > 100:
        raise ApiError(422, "q must be 1 to 100 characters (a user id or part of a name)")
    return await _call(request, lambda: {"customers": _rows(db.search(request.app.state.url, query))})


async def customer(request: Request) -> Response:
    from assets.sparkify import customers as db

    user_id = request.path_params["user_id"]

    def work() -> dict[str, Any]:
        row = db.customer(request.app.state.url, user_id)
        if row is None:
            raise ApiError(404, f"no customer {user_id[:64]!r}")
        days = db.activity(request.app.state.url, user_id)
        return {
            "customer": {k: _clean(v) for k, v in row.items()},
            "activity": _rows(days, ("day", "events", "songs")),
        }

    return await _call(request, work)


async def at_risk(request: Request) -> Response:
    from assets.sparkify import customers as db

    params = request.query_params
    unknown = sorted(set(params) - {"level", "state", "min_risk", "max_risk", "limit"})
    if unknown:
        raise ApiError(422, f"unknown parameter(s): {', '.join(unknown)}")
    level = params.get("level", "")
    if level not in ("", "free", "paid"):
        raise ApiError(422, "level must be free or paid")
    low, high = _number(params, "min_risk", 0.0), _number(params, "max_risk", 1.0)
    if low > high:
        raise ApiError(422, "min_risk must not be above max_risk")
    try:
        limit = int(params.get("limit") or 100)
    except ValueError:
        raise ApiError(422, "limit must be a whole number") from None
    if not 1 <= limit <= 1000:
        raise ApiError(422, "limit must be between 1 and 1000")
    state = params.get("state", "")[:8]
    url = request.app.state.url
    return await _call(
        request,
        lambda: {
            "customers": _rows(db.at_risk(url, level or None, state or None, low, high, limit)),
            "states": db.states(url),
        },
    )


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse({"error": exc.message}, status_code=exc.status)


def create_app(database_url: str, hosts: Sequence[str] = (), token: str = "") -> Starlette:
    """The app over the customers database at ``database_url``; ``hosts`` are names it answers to
    besides loopback; ``token`` (optional) is required on every API call when set."""
    app = Starlette(
        routes=[
            Route("/api/health", health),
            Route("/api/search", search),
            Route("/api/customers/{user_id}", customer),
            Route("/api/at-risk", at_risk),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
            Route("/", index),
        ],
        middleware=[
            Middleware(SecurityHeaders, headers=_SECURITY_HEADERS),
            Middleware(HostCheck, hosts=allowed_hosts(hosts)),
        ],
        exception_handlers={ApiError: _api_error},
    )
    app.state.url = database_url
    app.state.token = token
    return app
