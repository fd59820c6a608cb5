"""The monitoring page and its JSON API, as one read-only Starlette app over ``<home>/monitoring``.

Routes (``use_case`` must be one of the served use cases, anything else is 404):

``GET /``
    the use cases, each linking to its page.
``GET /uc/{use_case}``
    the page (``static/monitor.html``); it asks the API below and draws the result.
``GET /api/monitoring/{use_case}``
    the snapshot :meth:`apps.monitor.data.Monitoring.snapshot` builds: always 200 for a known use
    case, ``ready: false`` and empty lists before any file exists, unreadable files named in
    ``problems``.
``GET /files/{use_case}/label_efficiency.png``, ``GET /files/{use_case}/drift/{slot}.html``
    the curve and a batch's drift report as written; 404 when missing or when ``slot`` could reach
    outside ``drift/``.
``GET /health``
    ``{"status": "ok", "use_cases": [...]}``.

Nothing needs a token: the files hold metrics and feature statistics, no records. Requests addressed
to a host the page does not serve are 400 (DNS-rebinding protection, see :mod:`apps.web`).

A drift report is a full HTML page from a report generator, usually with inline scripts and styles, so
it gets its own policy: inline code may run, but sandboxed in an opaque origin with no network, so it
can neither fetch anything nor reach this app as same-origin.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from apps.monitor.data import Monitoring, folder, image_path, report_path
from apps.web import HostCheck, SecurityHeaders, allowed_hosts, security_headers

STATIC = Path(__file__).parent / "static"
_PAGE_HEADERS = security_headers(
    "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
_REPORT_HEADERS = security_headers(
    "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; font-src data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_NO_STORE = {"cache-control": "no-store"}  # the files change under the page


class _Headers:
    """The page's security headers on every response, the report policy on drift reports."""

    def __init__(self, app: ASGIApp):
        self.page = SecurityHeaders(app, _PAGE_HEADERS)
        self.report = SecurityHeaders(app, _REPORT_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        is_report = path.startswith("/files/") and "/drift/" in path and path.endswith(".html")
        await (self.report if is_report else self.page)(scope, receive, send)


def _use_case(request: Request) -> str:
    name = request.path_params["use_case"]
    if name not in request.app.state.use_cases:
        raise HTTPException(404, f"unknown use case {name[:80]!r}")
    return name


async def index(request: Request) -> Response:
    home: Path = request.app.state.monitoring.home
    items = []
    for name in request.app.state.use_cases:
        has_data = folder(home, name).is_dir()
        note = "" if has_data else ' <span class="hint">no data yet</span>'
        items.append(f'<li><a href="/uc/{html.escape(name)}">{html.escape(name)}</a>{note}</li>')
    listing = "\n".join(items) or "<li>no use cases</li>"
    page = (STATIC / "index.html").read_text(encoding="utf-8").replace("<!--use-cases-->", listing)
    return HTMLResponse(page)


async def page(request: Request) -> Response:
    _use_case(request)
    return FileResponse(STATIC / "monitor.html", media_type="text/html; charset=utf-8", headers=_NO_STORE)


async def monitoring(request: Request) -> Response:
    name = _use_case(request)
    body = await run_in_threadpool(request.app.state.monitoring.snapshot, name)  # file reads off the loop
    return JSONResponse(body, headers=_NO_STORE)


async def efficiency_image(request: Request) -> Response:
    path = image_path(request.app.state.monitoring.home, _use_case(request))
    if path is None:
        raise HTTPException(404, "no label-efficiency curve yet")
    return FileResponse(path, media_type="image/png", headers=_NO_STORE)


async def drift_report(request: Request) -> Response:
    name = _use_case(request)
    path = report_path(request.app.state.monitoring.home, name, request.path_params["slot"])
    if path is None:
        raise HTTPException(404, "no such drift report")
    return FileResponse(path, media_type="text/html; charset=utf-8")


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "use_cases": list(request.app.state.use_cases)})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    return Response(f"{exc.status_code} {exc.detail}", status_code=exc.status_code, media_type="text/plain")


def create_app(home: Path, use_cases: Sequence[str], hosts: Sequence[str] = ()) -> Starlette:
    """The monitoring pages for ``use_cases`` over ``<home>/monitoring`` (which may not exist yet:
    each page then says so). ``hosts`` are names it answers to besides loopback."""
    routes = [
        Route("/", index),
        Route("/health", health),
        Route("/uc/{use_case}", page),
        Route("/api/monitoring/{use_case}", monitoring),
        Route("/files/{use_case}/label_efficiency.png", efficiency_image),
        Route("/files/{use_case}/drift/{slot}.html", drift_report),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(_Headers), Middleware(HostCheck, hosts=allowed_hosts(hosts))],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.monitoring = Monitoring(Path(home))
    app.state.use_cases = tuple(dict.fromkeys(use_cases))
    return app
