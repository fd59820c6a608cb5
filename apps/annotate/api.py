"""The JSON API handlers (documented route by route in :mod:`apps.annotate.server`).

Store calls are blocking SQLAlchemy calls, so they run in the thread pool: one slow write must not
freeze the page for every other annotator.
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from apps.annotate import lookup, render
from apps.annotate.guard import ApiError, json_object, require_token, short_string
from apps.annotate.labelsets import LabelSet, LabelSetError, labels_from_table, save
from apps.annotate.uploads import UploadError, UploadLimits, UploadPlan, plan_upload, read_table
from resources.annotation_store import AnnotationStore, PayloadConflict

MAX_QUEUE_LIMIT = 200
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


def _store(request: Request) -> AnnotationStore:
    return request.app.state.store


def use_case_of(request: Request) -> tuple[str, LabelSet]:
    """The path's use case and its label set; 404 for a use case the page does not serve."""
    uc = request.path_params["use_case"]
    label_set = request.app.state.label_sets.get(uc)
    if label_set is None:
        known = sorted(request.app.state.label_sets)
        raise ApiError(404, f"unknown use case {uc[:64]!r}", {"use_cases": known})
    return uc, label_set


def media_url(use_case: str, sample_id: str) -> str:
    return f"/api/{quote(use_case)}/media/{quote(sample_id, safe='')}"


def shown_suggestion(label_set: LabelSet, raw: Any) -> dict[str, Any] | None:
    """The stored suggestion as the page may show it: only labels of today's label set, in its order.

    A label the use case no longer accepts is never pre-selected (the page could not post it); a
    suggestion left with neither a prediction nor a probability is no suggestion.
    """
    if not isinstance(raw, dict):
        return None
    known = label_set.labels
    given = raw.get("probabilities") or {}
    probabilities = {name: round(float(given[name]), 4) for name in known if name in given}
    predicted = raw.get("prediction")
    prediction: str | list[str] | None
    if label_set.multilabel:
        chosen = set(predicted) if isinstance(predicted, list) else {predicted}
        prediction = [name for name in known if name in chosen]
    else:
        prediction = predicted if isinstance(predicted, str) and predicted in known else None
    if prediction is None and not probabilities:
        return None
    return {"prediction": prediction, "probabilities": probabilities}


def queue_item(use_case: str, row: dict[str, Any], label_set: LabelSet) -> dict[str, Any]:
    url = media_url(use_case, row["sample_id"])
    return {
        "sample_id": row["sample_id"],
        "score": row["score"],
        "strategy": row["strategy"],
        "model_version": row["model_version"],
        "suggestion": shown_suggestion(label_set, row.get("suggestion")),
        "enqueued_at": row["enqueued_at"].isoformat() if row["enqueued_at"] else None,
        "payload": row["payload"],
        "kind": render.kind_of(row["payload"], url),
        "html": render.render_payload(row["payload"], url),
    }


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "use_cases": sorted(request.app.state.label_sets)})


async def auth_check(request: Request) -> JSONResponse:
    require_token(request)
    return JSONResponse({"ok": True})


async def queue(request: Request) -> JSONResponse:
    uc, label_set = use_case_of(request)
    raw = request.query_params.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_QUEUE_LIMIT:
        raise ApiError(422, f"limit must be a whole number from 1 to {MAX_QUEUE_LIMIT}")
    store = _store(request)
    rows = await run_in_threadpool(store.queue, uc, int(raw))
    counts = await run_in_threadpool(store.counts, uc)
    items = [queue_item(uc, row, label_set) for row in rows]
    return JSONResponse({**label_set.as_json(), "counts": counts, "items": items})


async def post_label(request: Request) -> JSONResponse:
    require_token(request)
    uc, label_set = use_case_of(request)
    body = await json_object(request, {"sample_id": str, "label": (str, list), "annotator": str})
    sample_id = short_string(body, "sample_id", 256)
    annotator = short_string(body, "annotator", 128)
    if "label" not in body:
        raise ApiError(422, "label is required")
    try:
        label = label_set.validate(body["label"])
    except LabelSetError as exc:
        raise ApiError(422, str(exc), label_set.as_json()) from exc
    store = _store(request)
    if await run_in_threadpool(lookup.sample_status, store, uc, sample_id) is None:
        raise ApiError(404, f"unknown sample {sample_id[:80]!r} in {uc!r}")
    label_id = await run_in_threadpool(store.add_label, uc, sample_id, label, annotator, "page")
    made = await run_in_threadpool(lookup.label_by_id, store, uc, label_id) or {}
    counts = await run_in_threadpool(store.counts, uc)
    body = {
        "label_id": label_id,
        "sample_id": sample_id,
        "label": label,
        "annotator": annotator,
        "suggested_by_version": made.get("suggested_by_version"),
        "accepted_suggestion": made.get("accepted_suggestion"),
    }
    return JSONResponse({**body, "counts": counts}, status_code=201)


async def skip(request: Request) -> JSONResponse:
    require_token(request)
    uc, _ = use_case_of(request)
    body = await json_object(request, {"sample_id": str})
    sample_id = short_string(body, "sample_id", 256)
    store = _store(request)
    status = await run_in_threadpool(lookup.sample_status, store, uc, sample_id)
    if status is None:
        raise ApiError(404, f"unknown sample {sample_id[:80]!r} in {uc!r}")
    if status == "labelled":
        raise ApiError(409, "sample is labelled; undo its label before skipping it")
    await run_in_threadpool(store.skip, uc, sample_id)
    counts = await run_in_threadpool(store.counts, uc)
    return JSONResponse({"sample_id": sample_id, "status": "skipped", "counts": counts})


async def undo(request: Request) -> JSONResponse:
    require_token(request)
    uc, _ = use_case_of(request)
    body = await json_object(request, {"label_id": int})
    label_id = body.get("label_id")
    if not isinstance(label_id, int) or label_id < 1:
        raise ApiError(422, "label_id is required (a positive integer)")
    store = _store(request)
    try:
        row = await run_in_threadpool(store.undo, label_id, uc)
    except KeyError as exc:  # unknown, already undone, or another use case's label
        raise ApiError(404, f"no active label {label_id} in {uc!r}") from exc
    counts = await run_in_threadpool(store.counts, uc)
    active = row["active_label"]
    body = {
        "label_id": label_id,
        "sample_id": row["sample_id"],
        "status": row["sample_status"],
        "active_label": None if active is None else _label_json(active),
    }
    return JSONResponse({**body, "counts": counts})


def _label_json(row: dict[str, Any]) -> dict[str, Any]:
    """A stored label as the API shows it (downloads, undo)."""
    return {
        "label_id": row["id"],
        "sample_id": row["sample_id"],
        "label": row["label"],
        "annotator": row["annotator"],
        "source": row["source"],
        "created_at": row["created_at"].isoformat() if row["created_at"] else None,
        "suggested_by_version": row["suggested_by_version"],
        "suggested_label": row["suggested_label"],
        "accepted_suggestion": row["accepted_suggestion"],
    }


CSV_COLUMNS = (
    "label_id",
    "sample_id",
    "label",
    "annotator",
    "source",
    "created_at",
    "suggested_by_version",
    "suggested_label",
    "accepted_suggestion",
    "text",
)


def _csv_label(value: Any) -> str:
    """A label cell: multi-label lists as JSON (the upload reads them back unchanged), none as ''."""
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, list) else str(value)


#: What a spreadsheet reads as the start of a formula (or, tab and CR, as a way to hide one).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading ``'``.

    Sample text and annotator names come from strangers; ``=HYPERLINK(...)`` or ``@SUM(...)`` in a
    downloaded file would otherwise run when someone opens it in Excel or LibreOffice.
    """
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _labels_csv(rows: list[dict[str, Any]], texts: dict[str, str]) -> str:
    """One row per label; ``accepted_suggestion`` is true/false, empty when no suggestion was shown.
    Every cell goes through :func:`csv_cell`."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        accepted = r["accepted_suggestion"]
        cells = {
            **r,
            "label": _csv_label(r["label"]),
            "suggested_by_version": r["suggested_by_version"] or "",
            "suggested_label": _csv_label(r["suggested_label"]),
            "accepted_suggestion": "" if accepted is None else str(accepted).lower(),
            "text": texts.get(r["sample_id"], ""),
        }
        writer.writerow([csv_cell(cells[name]) for name in CSV_COLUMNS])
    return out.getvalue()


async def download_labels(request: Request) -> Response:
    uc, _ = use_case_of(request)
    fmt = request.query_params.get("format", "json")
    after = request.query_params.get("after_id", "0")
    if fmt not in ("json", "csv"):
        raise ApiError(422, "format must be json or csv")
    if not after.isdigit():
        raise ApiError(422, "after_id must be a whole number")
    store = _store(request)
    stored = await run_in_threadpool(store.labels, uc, int(after))
    rows = [_label_json(r) for r in stored]
    if fmt == "json":
        return JSONResponse({"use_case": uc, "count": len(rows), "labels": rows})
    texts = await run_in_threadpool(lookup.texts, store, uc, [r["sample_id"] for r in rows])
    return Response(
        _labels_csv(rows, texts),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{uc}-labels.csv"'},
    )


async def _form_files(request: Request) -> tuple[list[UploadFile], dict[str, str]]:
    """The multipart files and text fields, after the size checks (Content-Length is required)."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(415, "send the file as multipart/form-data (field 'file')")
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        raise ApiError(411, "Content-Length is required for uploads")
    limit = request.app.state.upload_limits.max_bytes
    if int(declared) > limit:
        raise ApiError(413, f"upload larger than {limit} bytes")
    form = await request.form(max_files=10, max_fields=10, max_part_size=64 * 1024)
    files = [v for v in form.getlist("file") if isinstance(v, UploadFile)]
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not files:
        raise ApiError(422, "no file: send it in the multipart field 'file'")
    return files, fields


async def _frame(upload: UploadFile, limits: UploadLimits) -> Any:
    """The file as a frame; over a limit (bytes as sent, or Parquet rows, row groups, columns and
    decoded size from its footer) is 413 before it is decoded, unreadable is 422."""
    data = await upload.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise ApiError(413, f"{upload.filename}: larger than {limits.max_bytes} bytes")
    try:
        return await run_in_threadpool(read_table, data, upload.filename or "", limits)
    except UploadError as exc:
        raise ApiError(exc.status, f"{upload.filename}: {exc}", exc.detail) from exc


async def upload(request: Request) -> JSONResponse:
    """Every file is read and checked before anything is written, and all are stored in one
    transaction: one unusable file, or one id already stored with another payload, stores nothing."""
    require_token(request)
    uc, label_set = use_case_of(request)
    files, fields = await _form_files(request)
    annotator = short_string({"annotator": fields.get("annotator") or "upload"}, "annotator", 128)
    limits: UploadLimits = request.app.state.upload_limits
    schema = request.app.state.record_schemas.get(uc)
    plans: list[tuple[str, UploadPlan]] = []
    for item in files:
        frame = await _frame(item, limits)
        try:
            plan = await run_in_threadpool(plan_upload, frame, label_set, limits, schema)
        except UploadError as exc:
            raise ApiError(exc.status, f"{item.filename}: {exc}", exc.detail) from exc
        plans.append((item.filename or "file", plan))
    store = _store(request)
    batches = [(plan.samples, plan.labelled) for _, plan in plans]
    try:
        written = await run_in_threadpool(store.add_uploaded, uc, batches, annotator)
    except PayloadConflict as exc:
        detail = {"conflicts": exc.sample_ids[:100], "count": len(exc.sample_ids)}
        raise ApiError(409, f"{exc}; nothing was stored", detail) from exc
    reports = [
        {"file": name, **plan.report(), **done} for (name, plan), done in zip(plans, written, strict=True)
    ]
    counts = await run_in_threadpool(store.counts, uc)
    return JSONResponse({"use_case": uc, "files": reports, "counts": counts})


async def get_labelset(request: Request) -> JSONResponse:
    _, label_set = use_case_of(request)
    return JSONResponse(label_set.as_json())


async def put_labelset(request: Request) -> JSONResponse:
    """Replace a use case's labels from a labels file (multipart) or ``{"labels", "multilabel"}`` JSON."""
    require_token(request)
    uc, current = use_case_of(request)
    try:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            files, fields = await _form_files(request)
            frame = await _frame(files[0], request.app.state.upload_limits)
            labels = labels_from_table(frame)
            flag = fields.get("multilabel")
            if flag not in (None, "", "true", "false", "1", "0", "on"):
                raise ApiError(422, "multilabel must be true or false")
            multilabel = current.multilabel if flag in (None, "") else flag in ("true", "1", "on")
        else:
            body = await json_object(request, {"labels": list, "multilabel": bool})
            labels = body.get("labels")
            if labels is None:
                raise ApiError(422, "labels is required (a list of strings)")
            multilabel = body.get("multilabel", current.multilabel)
        label_set = LabelSet(uc, list(labels), bool(multilabel))
    except LabelSetError as exc:
        raise ApiError(422, str(exc)) from exc
    request.app.state.label_sets[uc] = label_set
    if request.app.state.label_sets_path is not None:
        await run_in_threadpool(save, request.app.state.label_sets_path, request.app.state.label_sets)
    return JSONResponse(label_set.as_json())


async def media(request: Request) -> Response:
    """A sample's ``image_path``, served only from the allowed media folders and only if an image."""
    uc, _ = use_case_of(request)
    sample_id = request.path_params["sample_id"]
    payload = await run_in_threadpool(lookup.sample_payload, _store(request), uc, sample_id)
    raw = payload.get("image_path") if isinstance(payload, dict) else None
    if not isinstance(raw, str):
        raise ApiError(404, "no image for this sample")
    path = Path(raw).resolve()
    roots = [Path(r).resolve() for r in request.app.state.media_roots]
    if path.suffix.lower() not in IMAGE_SUFFIXES or not any(path.is_relative_to(r) for r in roots):
        raise ApiError(404, "image is not under an allowed media folder")
    if not path.is_file():
        raise ApiError(404, "image file not found")
    return FileResponse(path, media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream")
