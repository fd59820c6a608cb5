"""What every request passes before it touches the store: the token, body size and JSON shape.

Writes change the training data, so each one must carry the page's token; it is compared in
constant time so response timing says nothing about how much of a guess was right. Bodies are read
with a cap, so a client cannot make the server buffer an endless request.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.requests import Request

MAX_JSON_BYTES = 64 * 1024
TOKEN_HEADER = "x-flywheel-token"


class ApiError(Exception):
    """An error the API returns as ``{"error": message, "detail": ...}`` with its status code."""

    def __init__(self, status: int, message: str, detail: Any = None):
        super().__init__(message)
        self.status, self.message, self.detail = status, message, detail


def presented_token(request: Request) -> str | None:
    """The token from ``Authorization: Bearer <token>`` or, failing that, ``X-Flywheel-Token``."""
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get(TOKEN_HEADER) or None


def token_matches(presented: str | None, expected: str) -> bool:
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


def require_token(request: Request) -> None:
    expected: str = request.app.state.token
    if not token_matches(presented_token(request), expected):
        raise ApiError(401, "a valid token is required for writes (Authorization: Bearer <token>)")


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise ApiError(413, f"body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_object(request: Request, fields: dict[str, type | tuple[type, ...]]) -> dict[str, Any]:
    """The JSON body as an object with exactly the allowed ``fields`` (others refused), types checked.

    A field's value may be omitted (the caller decides what is required); booleans never pass as
    numbers, since ``True`` for a label id is a client bug worth reporting.
    """
    raw = await read_limited(request, MAX_JSON_BYTES)
    try:
        body = json.loads(raw or b"null")
    except ValueError as exc:
        raise ApiError(400, "body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(422, "body must be a JSON object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise ApiError(422, f"unknown fields: {', '.join(unknown)}", {"allowed": sorted(fields)})
    for name, kind in fields.items():
        if name in body and body[name] is not None:
            value = body[name]
            if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
                raise ApiError(422, f"{name} has the wrong type")
            if not isinstance(value, kind):
                raise ApiError(422, f"{name} has the wrong type")
    return body


def short_string(body: dict[str, Any], name: str, max_chars: int) -> str:
    """A required, non-blank string field of at most ``max_chars`` characters, without control chars."""
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ApiError(422, f"{name} is required (a non-empty string)")
    value = value.strip()
    if len(value) > max_chars or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ApiError(422, f"{name} must be at most {max_chars} printable characters")
    return value
