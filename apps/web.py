"""What every Flywheel web page shares: strict security headers on every HTTP response.

Payload text (messages, tweets, URLs) is written by strangers; the pages insert it as text, and the
headers (a strict Content-Security-Policy among them) are the net if that ever slips.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def security_headers(content_security_policy: str) -> list[tuple[bytes, bytes]]:
    """A page's own Content-Security-Policy plus the headers every page sends."""
    return [
        (b"content-security-policy", content_security_policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
    ]


class SecurityHeaders:
    """ASGI middleware appending ``headers`` (``(name, value)`` byte pairs) to every HTTP response."""

    def __init__(self, app: ASGIApp, headers: Sequence[tuple[bytes, bytes]]):
        self.app = app
        self.headers = list(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)
