"""The annotation page and its JSON API, as one Starlette app over an :class:`AnnotationStore`.

Reads are open (anyone who can reach the page may look); every write needs the token, sent as
``Authorization: Bearer <token>`` or ``X-Flywheel-Token: <token>``; without it, or with a wrong one,
the answer is ``401``. The page never carries the token in its HTML: the annotator types it into
the login field (kept in ``sessionStorage`` for the tab), or opens ``/<use_case>#token=...`` once
(``?token=`` works too, but a query string reaches the server's access log; a fragment does not),
from which the script moves it into ``sessionStorage`` and strips it from the address bar.

The app answers only requests addressed to the hosts it serves (``Host`` 127.0.0.1, localhost or
[::1] at its own port, plus the ``hosts`` given to :func:`create_app`: ``--allowed-host``); any other
``Host`` is 400, which stops a DNS-rebinding page from reading or writing through a visitor's
browser (see :mod:`apps.web`).

Errors are JSON ``{"error": "<message>", "detail": <optional>}`` with the status code:
400 malformed JSON or a foreign ``Host``, 401 token, 404 unknown use case / sample / label, 409 state
conflict, 411/413/415 upload framing and size, 422 validation (unknown fields, wrong types, unknown
labels, records that do not fit the use case's schema).

JSON API (``{uc}`` is a use case name; a label is a string, or a list of strings for a multi-label
use case; ``counts`` is ``{"queued", "labelled", "skipped", "labels"}`` after the call):

``GET /api/health``
    ``{"status": "ok", "use_cases": [...]}``
``GET /api/auth`` (token)
    ``{"ok": true}``: lets a client check its token without writing.
``GET /api/{uc}/queue?limit=20`` (limit 1..200)
    ``{"use_case", "labels", "multilabel", "counts", "items": [{"sample_id", "score", "strategy",
    "model_version", "suggestion", "enqueued_at", "payload", "kind", "html"}]}``, most uncertain
    (highest score) first; ``kind`` is text/window/image/table and ``html`` the rendered fragment.
    ``suggestion`` is ``null`` or the guess of model ``model_version``: ``{"prediction": label |
    [labels] | null, "probabilities": {label: p}}``, restricted to the use case's current labels
    (in label-set order); the page pre-selects the prediction.
``POST /api/{uc}/labels`` (token) ``{"sample_id": str, "label": str | [str], "annotator": str}``
    ``201 {"label_id", "sample_id", "label", "annotator", "suggested_by_version",
    "accepted_suggestion", "counts"}``; the sample must be in the use case's queue (any status;
    relabelling a sample adds a newer label). Unknown fields are 422. When the sample was queued
    with a suggestion, the label is stored with the suggesting model version, the suggested label
    and ``accepted_suggestion`` (the label equals the suggestion; multi-label: the same set), all
    decided on the server; otherwise those are ``null``.
``POST /api/{uc}/skip`` (token) ``{"sample_id": str}``
    ``{"sample_id", "status": "skipped", "counts"}``; 409 if the sample is labelled.
``POST /api/{uc}/undo`` (token) ``{"label_id": int}``
    ``{"label_id", "sample_id", "status", "active_label", "counts"}``: the label is withdrawn (kept
    for audit with ``undone_at``). The sample's active label is then its newest label not undone
    (``active_label``, shaped as in the labels download; ``"status": "labelled"``), or, when none is
    left, it is queued again (``"status": "queued"``, ``active_label`` null). 404 unless the label
    is not undone and in ``{uc}``.
``GET /api/{uc}/labels?format=json|csv&after_id=0``
    JSON ``{"use_case", "count", "labels": [{"label_id", "sample_id", "label", "annotator",
    "source", "created_at", "suggested_by_version", "suggested_label", "accepted_suggestion"}]}``:
    each labelled sample's active label (its newest not undone: what training reads), oldest first;
    ``after_id`` keeps only labels with a larger id (incremental pulls). CSV columns ``label_id,
    sample_id,label,annotator,source,created_at,suggested_by_version,suggested_label,
    accepted_suggestion,text`` (multi-label cells as JSON lists; ``accepted_suggestion``
    ``true``/``false``, empty when no suggestion was shown); a cell starting with ``=``, ``+``, ``-``,
    ``@``, tab or CR gets a leading ``'`` so a spreadsheet shows it as text, never runs it.
``POST /api/{uc}/upload`` (token) multipart: one or more ``file`` parts (``.csv`` or ``.parquet``),
    optional ``annotator`` field (default ``upload``). Columns: ``id`` (required), the fields of the
    use case's records (disaster ``message``, tweets ``text``, activity ``stamp`` and the numeric
    signals; see ``assets/<uc>/schema.py``) and any other data columns (they become the payload),
    optional ``label`` (multi-label: ``a|b`` or a JSON list) and ``score`` (default 0). Unlabelled
    rows are queued; labelled rows are stored as labels with ``source="upload"`` (a label equal to
    the sample's active label is not stored again). ``{"use_case", "counts", "files": [{"file",
    "rows", "kept", "rejected", "rejected_by_reason", "rejections": [{"row", "id", "reason"}],
    "enqueued", "already_queued", "labelled", "already_labelled"}]}``. Nothing from the request is
    stored when a file cannot be used: 413 over a size limit (bytes; Parquet rows, row groups,
    columns or decoded bytes, read from its footer before decoding; rows of a CSV), 422 unreadable
    or no ``id`` column, 422 ``{"detail": {"problems": [{"row", "id", "field", "reason"}]}}`` for
    rows whose record lacks a required field or has a non-numeric numeric one, 409 ``{"detail":
    {"conflicts": [ids]}}`` for ids already stored (or repeated in the request) with a different
    payload. The same rows uploaded again change nothing.
``GET /api/{uc}/labelset``
    ``{"use_case", "labels", "multilabel"}``
``PUT|POST /api/{uc}/labelset`` (token) multipart ``file`` (column ``label``, optional ``index``;
    ``lable`` as the seed's tagger spelt it) and optional ``multilabel`` field, or JSON
    ``{"labels": [...], "multilabel": bool}``; returns the new label set.
``GET /api/{uc}/media/{sample_id}``
    the sample's ``image_path`` file, only from the ``media_roots`` given to :func:`create_app`.

Pages: ``GET /`` lists use cases with counts; ``GET /{uc}`` is the labelling page (keys ``1``-``9``,
``0`` for the first ten labels, ``s`` skip, ``u`` undo this tab's last label, ``Enter`` confirms
the pre-selected suggestion; multi-label: suggested labels come pre-checked, number keys toggle,
``Enter`` submits).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from apps.annotate import api, pages
from apps.annotate.guard import ApiError
from apps.annotate.labelsets import LabelSet
from apps.annotate.uploads import UploadLimits
from apps.web import HostCheck, SecurityHeaders, allowed_hosts, security_headers
from assets.loop.records import RecordSchema
from orchestration.use_cases import record_schemas as _record_schemas
from resources.annotation_store import AnnotationStore

STATIC = Path(__file__).parent / "static"
_SECURITY_HEADERS = security_headers(
    "default-src 'self'; img-src 'self' data: https: http:; "
    "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    body = {"error": exc.message} if exc.detail is None else {"error": exc.message, "detail": exc.detail}
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(body, status_code=exc.status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    return HTMLResponse(f"<h1>{exc.status_code}</h1>", status_code=exc.status_code, headers=exc.headers)


async def _index(request: Request) -> HTMLResponse:
    store: AnnotationStore = request.app.state.store
    counts = {uc: await run_in_threadpool(store.counts, uc) for uc in request.app.state.label_sets}
    return HTMLResponse(pages.index(counts))


async def _page(request: Request) -> HTMLResponse:
    label_set = request.app.state.label_sets.get(request.path_params["use_case"])
    if label_set is None:
        raise HTTPException(404, "unknown use case")
    return HTMLResponse(pages.annotate(label_set))


def create_app(
    store: AnnotationStore,
    token: str,
    label_sets: Mapping[str, LabelSet],
    *,
    label_sets_path: Path | None = None,
    media_roots: Sequence[Path] = (),
    max_upload_bytes: int = UploadLimits.max_bytes,
    max_rows: int = UploadLimits.max_rows,
    max_row_groups: int = UploadLimits.max_row_groups,
    max_decoded_bytes: int = UploadLimits.max_decoded_bytes,
    record_schemas: Mapping[str, RecordSchema] | None = None,
    hosts: Sequence[str] = (),
) -> Starlette:
    """The app. ``label_sets`` names the use cases served; labels files uploaded later replace them
    (and are saved to ``label_sets_path`` when given). ``media_roots`` are the only folders an
    ``image_path`` may be served from. Uploads are checked against ``record_schemas`` (default: each
    streaming use case's ``assets/<uc>/schema.py``, see :func:`orchestration.use_cases.record_schemas`;
    a use case without one takes any columns). ``hosts`` are names the page answers to besides
    loopback (``name`` or ``name:port``); a bad entry raises :class:`ValueError`.
    """
    if not token or token != token.strip() or len(token) < 8:
        raise ValueError("the token must be at least 8 characters, without surrounding spaces")
    uc = "/api/{use_case}"
    routes = [
        Route("/api/health", api.health),
        Route("/api/auth", api.auth_check),
        Route(f"{uc}/queue", api.queue),
        Route(f"{uc}/labels", api.post_label, methods=["POST"]),
        Route(f"{uc}/labels", api.download_labels, methods=["GET"]),
        Route(f"{uc}/skip", api.skip, methods=["POST"]),
        Route(f"{uc}/undo", api.undo, methods=["POST"]),
        Route(f"{uc}/upload", api.upload, methods=["POST"]),
        Route(f"{uc}/labelset", api.get_labelset, methods=["GET"]),
        Route(f"{uc}/labelset", api.put_labelset, methods=["PUT", "POST"]),
        Route(uc + "/media/{sample_id:path}", api.media),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        Route("/", _index),
        Route("/{use_case}", _page),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders, headers=_SECURITY_HEADERS),
            Middleware(HostCheck, hosts=allowed_hosts(hosts)),
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    app.state.store = store
    app.state.token = token
    app.state.label_sets = dict(label_sets)
    app.state.label_sets_path = label_sets_path
    app.state.media_roots = list(media_roots)
    app.state.upload_limits = UploadLimits(
        max_bytes=max_upload_bytes,
        max_rows=max_rows,
        max_row_groups=max_row_groups,
        max_decoded_bytes=max_decoded_bytes,
    )
    app.state.record_schemas = dict(_record_schemas() if record_schemas is None else record_schemas)
    return app
